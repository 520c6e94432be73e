"""The pass/fail count of the standalone Python tests: a failed check is
printed when it happens, summary() prints "N passed, M failed" and gives
the exit status."""


class Checks:
    def __init__(self, name=""):
        self.name = name
        self.passed = self.failed = 0

    def __call__(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL:", what)

    def summary(self):
        prefix = self.name + ": " if self.name else ""
        print(f"{prefix}{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0
