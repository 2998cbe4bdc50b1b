"""PDFs from templates a city edits: Jinja2 HTML pages (``templates/``, or the city's own in
``WEIJIAN_DOCUMENT_TEMPLATES``, which win by name), laid out by WeasyPrint in the Noto CJK
fonts of Debian's fonts-noto-cjk, embedded in the file as subsets."""

from __future__ import annotations

import logging
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import jinja2

from weijian.cases.clock import LOCAL
from weijian.errors import EnvironmentProblem, InputError

TEMPLATES = Path(__file__).with_name("templates")
FONTS = ("Noto Serif CJK SC", "Noto Sans CJK SC")
DIGITS = "〇一二三四五六七八九"

# WeasyPrint says what it cannot use of a page's CSS at WARNING; our pages use what it reads
logging.getLogger("weasyprint").setLevel(logging.ERROR)
logging.getLogger("fontTools").setLevel(logging.ERROR)
_log = logging.getLogger(__name__)


def _number_zh(n: int) -> str:
    """1–31 in Chinese words: 十二, 二十一."""
    tens, ones = divmod(n, 10)
    words = ("" if tens == 0 else ("十" if tens == 1 else DIGITS[tens] + "十")) + (
        DIGITS[ones] if ones else ""
    )
    return words or DIGITS[0]


def zh_date(value: date | datetime | str | None) -> str:
    """A date as an official document writes it: 二〇二六年十二月五日."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.astimezone(LOCAL).date()
    year = "".join(DIGITS[int(d)] for d in str(value.year))
    return f"{year}年{_number_zh(value.month)}月{_number_zh(value.day)}日"


def cn_date(value: date | datetime | str | None) -> str:
    """A date in figures: 2026年12月5日."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.astimezone(LOCAL).date()
    return f"{value.year}年{value.month}月{value.day}日"


@lru_cache(maxsize=8)
def environment(folder: str | None) -> jinja2.Environment:
    """The templates: the city's folder first, then the defaults."""
    loaders = [jinja2.FileSystemLoader(folder)] if folder else []
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([*loaders, jinja2.FileSystemLoader(str(TEMPLATES))]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["zh_date"] = zh_date
    env.filters["cn_date"] = cn_date
    return env


def check_fonts() -> None:
    """The CJK fonts the pages name are installed (else WeasyPrint would print boxes)."""
    from matplotlib import font_manager  # the font look-up the printed maps use

    for family in FONTS:
        try:
            found = font_manager.findfont(
                font_manager.FontProperties(family=family), fallback_to_default=False
            )
        except ValueError:
            found = ""
        if "CJK" not in Path(found).name:
            raise EnvironmentProblem(
                f"未安装字体 {family}，执法文书中的中文无法显示，"
                "请联系系统管理员安装 fonts-noto-cjk",
                code="document.font_missing",
                detail=f"the font {family!r} is not installed: Chinese would not print",
                hint="apt-get install fonts-noto-cjk (./dev setup does it when run as root)",
            )


@lru_cache(maxsize=1)
def check_subsetter() -> bool:
    """Whether WeasyPrint cuts the embedded fonts with HarfBuzz's subsetter; without it (its
    own warning is silenced above) it falls back to fontTools, which walks every glyph of the CJK
    fonts — some 5 s a document — so the server's log says so, once."""
    from weasyprint.text.ffi import harfbuzz_subset

    if harfbuzz_subset is None:
        _log.warning(
            "HarfBuzz's subsetter (libharfbuzz-subset0) is missing: every document's fonts are "
            "cut by fontTools, some 5 s a document. Install it: apt-get install "
            "libharfbuzz-subset0 (./dev setup does it when run as root)"
        )
    return harfbuzz_subset is not None


def render_html(template: str, context: dict, folder: Path | None = None) -> str:
    env = environment(str(folder) if folder else None)
    try:
        return env.get_template(template).render(**context)
    except jinja2.TemplateNotFound:
        raise InputError(
            f"找不到文书模板“{template}”，请在模板文件夹中补上该文件，"
            "或删去 documents.json 中对它的引用",
            code="document.template_missing",
            detail=f"no template {template!r} in {folder or TEMPLATES}",
            hint="copy the default from weijian/enforcement/templates and edit it",
        ) from None
    except jinja2.TemplateError as exc:
        raise InputError(
            f"文书模板“{template}”有误：{exc}，请修改模板后重试",
            code="document.template_invalid",
            detail=f"template {template!r}: {exc}",
            hint="fix the template (Jinja2 syntax; every name it uses must be given)",
        ) from None


def render_pdf(template: str, context: dict, folder: Path | None = None) -> tuple[bytes, int]:
    """(PDF bytes, number of pages) of a template with its context."""
    from PIL import ImageFile
    from weasyprint import HTML  # loads Pango: only when a PDF is made

    # WeasyPrint's import makes Pillow pad truncated images for the whole process; a damaged
    # photo uploaded as evidence must still be refused (cases/evidence.py), so it is undone
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    check_fonts()
    check_subsetter()
    html = render_html(template, context, folder)
    document = HTML(string=html, base_url=str(TEMPLATES)).render()
    return document.write_pdf(), len(document.pages)
