"""Cases: intake, workflow and deadlines, transfer, ledger, sign-off, assessment."""
