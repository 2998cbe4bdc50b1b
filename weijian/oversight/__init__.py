"""The oversight over all cases: what towns, districts and the city look at every month.

- :mod:`.periods`: months, due moments, days as ranges of Beijing time
- :mod:`.ledger`: a town's monthly ledger (台账), its exports and its submission
- :mod:`.figures`: counts per grid unit in one grouped SQL pass
- :mod:`.indicators`: assessment indicators as data, scores and ranking (pure)
- :mod:`.units`: the grid units counted, their names, what a scope shows
- :mod:`.assessment`: the assessment (考评) of units and property companies
- :mod:`.progress`: clear-to-zero (清零) campaigns and their progress
- :mod:`.tracing`: responsibility tracing (责任倒查)

Oversight reads cases; the handling of a case (:mod:`weijian.cases`) never needs oversight.
"""
