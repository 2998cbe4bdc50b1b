"""The demo: the sample city loaded (:mod:`.city`), its people (:mod:`.users`) and its cases
reported and worked through the real domain core (:mod:`.cases`). Used by ``weijian demo``, the
tests and the benchmarks; never by the product's own requests."""
