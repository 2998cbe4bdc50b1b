"""Enforcement: the documents an enforcing department issues on a case (执法文书), numbered,
kept and served; and the joint meeting (联席会议) that the key cases are put before."""
