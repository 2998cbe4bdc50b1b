"""Background jobs on the product's PostgreSQL (procrastinate): work too long for a request —
a district's atlas — asked for by a page, worked by ``weijian worker``, its progress and its
result file read back by the page. ``store``: the ``job`` table; ``kinds``: what each kind of
job checks and does; ``runner``: one job worked through; ``queue``: the queue, its task and
the worker; ``service``: what the API calls."""
