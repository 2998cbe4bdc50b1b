"""The handling of one case: intake, the workflow as data and its deadlines, transfer,
evidence, the hash-chained history, users and their scopes, hotline files, and the store of
versioned definitions. The oversight over all cases lives in :mod:`weijian.oversight`."""
