"""The supervisors' map browser, with every asset served locally."""
