"""Transfer decisions (案件移交): given the department that holds a case and the jurisdiction
answer for its location, must the case go elsewhere, to whom, and why. Pure: it reads an answer
(as returned by :func:`weijian.jurisdiction.engine.lookup`), nothing else."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TransferDecision:
    must_transfer: bool
    to: dict | None  # department {type, code, name}
    reason: str  # machine-readable
    explanation: str  # for people, in Chinese
    needs_review: bool = False

    def as_dict(self) -> dict:
        return {
            "must_transfer": self.must_transfer,
            "to": self.to,
            "reason": self.reason,
            "explanation": self.explanation,
            "needs_review": self.needs_review,
        }


def _where(answer: dict) -> str:
    zone = answer.get("deciding_zone") or {}
    place = zone.get("name") or zone.get("kind") or "该位置"
    rule = (answer.get("rule") or {}).get("name", "")
    return f"案件位于“{place}”，依据规则“{rule}”（第{answer.get('rule_version')}版）"


def decide_transfer(current_department_code: str, answer: dict) -> TransferDecision:
    """Whether a case held by ``current_department_code`` must be transferred."""
    department = answer.get("department")
    if answer.get("status") != "assigned" or department is None:
        reason = answer.get("reason") or "unassigned"
        return TransferDecision(
            must_transfer=False,
            to=None,
            reason=f"unassigned:{reason}",
            explanation=f"该位置无法按规则确定责任部门（{answer.get('reason_text') or reason}），"
            "需人工研判，暂不移交。",
            needs_review=True,
        )
    if department["code"] == current_department_code:
        return TransferDecision(
            must_transfer=False,
            to=None,
            reason="within_remit",
            explanation=f"{_where(answer)}，属本部门（{department['name']}）管辖，无需移交。",
        )
    alternatives = answer.get("alternatives") or []
    if any(
        (alt.get("department") or {}).get("code") == current_department_code for alt in alternatives
    ):
        return TransferDecision(
            must_transfer=False,
            to=None,
            reason="within_tolerance",
            explanation=f"案件位置距管辖边界仅 {answer.get('boundary_distance_m')} 米，"
            f"在容差 {answer.get('tolerance_m')} 米内也可能属本部门管辖，需现场核实后再定是否"
            f"移交{department['name']}。",
            needs_review=True,
        )
    return TransferDecision(
        must_transfer=True,
        to=department,
        reason="outside_remit",
        explanation=f"{_where(answer)}，应由{department['name']}负责，须移交。",
    )
