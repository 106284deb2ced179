"""The response budget of a batch or transaction (max_bundle_response_bytes,
docs/limits.md): read entries stop running once the entry responses of the
Bundle have reached it, and answer 400 too-costly naming the setting.

Found by fuzzing (docs/fuzzing.md): a batch of GET metadata entries is a few
dozen bytes per entry and ~300 KB of answer each, so a 100 KB batch made the
server build a 680 MB response (3.4 GB at max_bundle_entries)."""
from fhirtest import FhirTestCase

LIMIT = 1 << 20


def batch(n, kind="batch"):
    return {"resourceType": "Bundle", "type": kind,
            "entry": [{"request": {"method": "GET", "url": "metadata"}} for _ in range(n)]}


class TestBundleResponseBudget(FhirTestCase):
    SERVER_ARGS = ("--max-bundle-response-bytes", str(LIMIT))

    def check_budget(self, r, n):
        self.assertEqual(r.status, 200, r.body[:500])
        statuses = [e["response"]["status"] for e in r.json["entry"]]
        self.assertEqual(len(statuses), n)
        self.assertTrue(statuses[0].startswith("200"), statuses[0])
        # once refused, every later read is refused: the budget only grows
        first_refused = next(i for i, s in enumerate(statuses) if not s.startswith("200"))
        self.assertTrue(all(s.startswith("400") for s in statuses[first_refused:]), statuses)
        issue = r.json["entry"][-1]["response"]["outcome"]["issue"][0]
        self.assertEqual(issue["code"], "too-costly")
        self.assertIn("max_bundle_response_bytes", issue["diagnostics"])
        # what was run stayed within the budget plus the one entry that crossed it
        one = len(r.body) / max(1, first_refused)
        self.assertLess(len(r.body), LIMIT + 2 * one + 100 * 1024)

    def test_batch_reads_stop_at_the_budget(self):
        self.check_budget(self.req("POST", "", batch(100)), 100)

    def test_transaction_reads_stop_at_the_budget(self):
        self.check_budget(self.req("POST", "", batch(100, "transaction")), 100)

    def test_writes_are_not_charged(self):
        # writes answer with what they were sent: a batch of them is not cut
        b = {"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "POST", "url": "Patient"},
             "resource": {"resourceType": "Patient", "name": [{"family": "x" * 20000}]}} for _ in range(80)]}
        r = self.req("POST", "", b)
        self.assertEqual(r.status, 200, r.body[:500])
        self.assertTrue(all(e["response"]["status"].startswith("201") for e in r.json["entry"]))
