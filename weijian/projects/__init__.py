"""Construction projects tracked from approval to completion acceptance (项目追踪, seed 一(3)):
the register with each project's approved red line, imported through the import core of
:mod:`weijian.layers.importing` (GBK shapefiles, Gauss-Krüger ``.prj``) or drawn; its stage;
the inspections during construction and at completion acceptance, with their photos; a finding
that opens a case from the ``project_tracking`` channel; and per project its open cases, its
overdue inspections and the area built outside its red line, in Gauss-Krüger metres.

A case reported inside an active project's red line is linked to it at intake (the rule lives
with the case's insert, :data:`weijian.cases.intake.PROJECT_AT`)."""
