"""Public probes: small harnesses that call a student's code in ways a bare call cannot (a
subclass that records the batches it is given, a stand-in model handed to a search). They run in
the sandbox and hand back what they saw; they hold no expected answer and check nothing. One
module per assignment, named after it; each function takes the student's namespace first."""
