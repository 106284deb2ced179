#!/usr/bin/env python3
"""gen_patients.py - deterministic synthetic Patients for the benchmarks, and a
parallel loader that PUTs them into a running server.

    python3 bench/gen_patients.py [--count N] [--seed S]            NDJSON to stdout
    python3 bench/gen_patients.py --load BASE_URL [--count N] [--seed S] [--threads T]

Patient i (1-based) has the id `pt-%05d` (pt-00001 .. pt-10000 by default),
so the read benchmark (bench/read.lua) knows every id without asking. Each
Patient looks like what an EHR sends: a US Core race/ethnicity/birth-sex
extension set, an MRN and an SSN identifier, an official (and sometimes a
maiden or nickname) name, gender, birthDate, sometimes a deceasedDateTime,
one or two addresses, a phone and an email, marital status, language. About
2 KB of JSON each. The same seed always gives the same bytes.

--load sends `PUT <base>/Patient/<id>` (update-as-create) from T threads
(default 8), each over its own keep-alive connection, and prints the rate.
Exit status: 0 when every PUT answered 2xx, 1 otherwise (the first few
failures are printed), 2 for a usage or connection error.
Python 3 standard library only.
"""

import argparse
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse

GIVEN_F = ["Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah", "Karen",
           "Nancy", "Lisa", "Margaret", "Sandra", "Ashley", "Emily", "Donna", "Michelle", "Carol", "Amanda",
           "Maria", "Sofia", "Aisha", "Mei", "Fatima", "Olga", "Ingrid", "Priya", "Chloe", "Grace"]
GIVEN_M = ["James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas", "Charles",
           "Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven", "Paul", "Andrew", "Joshua",
           "Jose", "Luis", "Wei", "Hiroshi", "Omar", "Ivan", "Lars", "Raj", "Kwame", "Noah"]
FAMILY = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
          "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
          "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
          "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
          "O'Brien", "Müller", "Kowalski", "Okafor", "Yamamoto", "Haddad", "Novak", "Silva", "Kim", "Patel"]
STREETS = ["Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Pine St", "Elm St", "Washington Blvd", "Lake Rd",
           "Hill St", "Park Ave", "Sunset Blvd", "River Rd", "Church St", "Highland Ave", "Mill Rd"]
CITIES = [("Boston", "MA", "021"), ("Springfield", "MA", "011"), ("Worcester", "MA", "016"),
          ("Providence", "RI", "029"), ("Hartford", "CT", "061"), ("Albany", "NY", "122"),
          ("Burlington", "VT", "054"), ("Portland", "ME", "041"), ("Manchester", "NH", "031"),
          ("Newark", "NJ", "071"), ("Philadelphia", "PA", "191"), ("Baltimore", "MD", "212")]
RACES = [("2106-3", "White"), ("2054-5", "Black or African American"), ("2028-9", "Asian"),
         ("1002-5", "American Indian or Alaska Native"), ("2076-8", "Native Hawaiian or Other Pacific Islander")]
ETHNICITIES = [("2186-5", "Not Hispanic or Latino"), ("2135-2", "Hispanic or Latino")]
MARITAL = [("M", "Married"), ("S", "Never Married"), ("D", "Divorced"), ("W", "Widowed")]
LANGS = [("en-US", "English (United States)"), ("es", "Spanish"), ("zh", "Chinese"), ("fr", "French")]
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
OMB = "urn:oid:2.16.840.1.113883.6.238"


def patient_id(i):
    return "pt-%05d" % i


def make_patient(rng, i):
    """Returns Patient number i (1-based) drawn from rng."""
    gender = rng.choice(["other", "unknown"]) if rng.random() < 0.01 else rng.choice(["female", "male"])
    given = rng.choice(GIVEN_F if gender == "female" else GIVEN_M)
    middle = rng.choice(GIVEN_F if gender == "female" else GIVEN_M)
    family = rng.choice(FAMILY)
    year = rng.randint(1925, 2023)
    birth = "%04d-%02d-%02d" % (year, rng.randint(1, 12), rng.randint(1, 28))
    race = rng.choice(RACES)
    eth = rng.choice(ETHNICITIES)
    city, state, zip3 = rng.choice(CITIES)
    mrn = "MRN%08d" % rng.randint(0, 99999999)
    phone = "555-%03d-%04d" % (rng.randint(100, 999), rng.randint(0, 9999))
    p = {
        "resourceType": "Patient",
        "id": patient_id(i),
        "meta": {"profile": [US_CORE + "us-core-patient"]},
        "extension": [
            {"url": US_CORE + "us-core-race", "extension": [
                {"url": "ombCategory", "valueCoding": {"system": OMB, "code": race[0], "display": race[1]}},
                {"url": "text", "valueString": race[1]}]},
            {"url": US_CORE + "us-core-ethnicity", "extension": [
                {"url": "ombCategory", "valueCoding": {"system": OMB, "code": eth[0], "display": eth[1]}},
                {"url": "text", "valueString": eth[1]}]},
            {"url": US_CORE + "us-core-birthsex",
             "valueCode": {"female": "F", "male": "M"}.get(gender, "UNK")},
        ],
        "identifier": [
            {"use": "usual",
             "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR",
                                  "display": "Medical record number"}], "text": "Medical record number"},
             "system": "http://hospital.example.org/mrn", "value": mrn},
            {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "SS",
                                  "display": "Social Security number"}], "text": "Social Security number"},
             "system": "http://hl7.org/fhir/sid/us-ssn",
             "value": "999-%02d-%04d" % (rng.randint(10, 99), rng.randint(0, 9999))},
        ],
        "active": True,
        "name": [{"use": "official", "family": family, "given": [given, middle],
                  "prefix": [{"female": "Ms.", "male": "Mr."}.get(gender, "Mx.")]}],
        "telecom": [
            {"system": "phone", "value": phone, "use": rng.choice(["home", "mobile"])},
            {"system": "email", "value": "%s.%s%d@example.com" % (given.lower(), family.lower().replace("'", ""),
                                                                   rng.randint(1, 99)), "use": "home"},
        ],
        "gender": gender,
        "birthDate": birth,
        "address": [{
            "use": "home", "type": "physical",
            "line": ["%d %s" % (rng.randint(1, 9999), rng.choice(STREETS))],
            "city": city, "state": state, "postalCode": "%s%02d" % (zip3, rng.randint(0, 99)), "country": "US",
            "period": {"start": "%04d-01-01" % max(year, rng.randint(1990, 2023))},
        }],
        "maritalStatus": {"coding": [dict(zip(("code", "display"), rng.choice(MARITAL)),
                                          system="http://terminology.hl7.org/CodeSystem/v3-MaritalStatus")]},
        "communication": [{"language": {"coding": [dict(zip(("code", "display"), rng.choice(LANGS)),
                                                        system="urn:ietf:bcp:47")]}}],
    }
    if gender == "female" and year < 2000 and rng.random() < 0.3:
        p["name"].append({"use": "maiden", "family": rng.choice(FAMILY), "given": [given]})
    if rng.random() < 0.15:
        p["name"].append({"use": "nickname", "given": [given[:3]]})
    if rng.random() < 0.2:
        c2, s2, z2 = rng.choice(CITIES)
        p["address"].append({"use": "old", "line": ["%d %s" % (rng.randint(1, 9999), rng.choice(STREETS))],
                             "city": c2, "state": s2, "postalCode": "%s%02d" % (z2, rng.randint(0, 99)),
                             "country": "US"})
    if year < 1950 and rng.random() < 0.2:
        p["deceasedDateTime"] = "%04d-%02d-%02dT%02d:%02d:00Z" % (
            rng.randint(2015, 2024), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59))
    return p


def generate(count, seed):
    rng = random.Random(seed)
    return [make_patient(rng, i) for i in range(1, count + 1)]


def encode(p):
    return json.dumps(p, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def load(base, bodies, nthreads):
    """PUTs bodies [(id, bytes)] from nthreads threads. Returns (ok, failures)."""
    u = urllib.parse.urlsplit(base)
    if u.scheme != "http" or not u.hostname:
        raise SystemExit("gen_patients: --load needs http://HOST:PORT/PATH, not %r" % base)
    prefix = u.path.rstrip("/") + "/Patient/"
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "fail": [], "nfail": 0, "error": None}
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}

    def worker():
        conn = None
        try:
            while True:
                with lock:
                    n = state["next"]
                    if n >= len(bodies) or state["error"]:
                        return
                    state["next"] = n + 1
                rid, body = bodies[n]
                for attempt in (0, 1):
                    if conn is None:
                        conn = http.client.HTTPConnection(u.netloc, timeout=60)
                    try:
                        conn.request("PUT", prefix + rid, body=body, headers=headers)
                        resp = conn.getresponse()
                        data = resp.read()
                        if resp.will_close:
                            conn.close()
                            conn = None
                        break
                    except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                        conn.close()
                        conn = None
                        if attempt:
                            raise
                with lock:
                    if 200 <= resp.status < 300:
                        state["ok"] += 1
                    else:
                        state["nfail"] += 1
                        if len(state["fail"]) < 5:
                            state["fail"].append("PUT Patient/%s -> %d %s" % (rid, resp.status, data[:300]))
        except (OSError, http.client.HTTPException) as e:
            with lock:
                state["error"] = "%s: %s" % (u.netloc, e)
        finally:
            if conn is not None:
                conn.close()

    threads = [threading.Thread(target=worker) for _ in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if state["error"]:
        raise SystemExit("gen_patients: cannot talk to %s" % state["error"])
    return state["ok"], state["nfail"], state["fail"]


def main():
    ap = argparse.ArgumentParser(description="Deterministic synthetic FHIR R4 Patients (ids pt-00001...).")
    ap.add_argument("--count", type=int, default=10000, help="how many Patients (default 10000)")
    ap.add_argument("--seed", type=int, default=20240601, help="random seed (default 20240601)")
    ap.add_argument("--load", metavar="BASE_URL", help="PUT them into the server at this FHIR base URL")
    ap.add_argument("--threads", type=int, default=8, help="parallel connections for --load (default 8)")
    a = ap.parse_args()
    if a.count < 1 or a.count > 99999 or a.threads < 1:
        ap.error("--count must be 1..99999 and --threads at least 1")
    patients = generate(a.count, a.seed)
    if not a.load:
        out = sys.stdout.buffer
        for p in patients:
            out.write(encode(p) + b"\n")
        return 0
    bodies = [(p["id"], encode(p)) for p in patients]
    t0 = time.monotonic()
    ok, nfail, fails = load(a.load, bodies, a.threads)
    dt = time.monotonic() - t0
    print("%d Patients loaded in %.2f s (%.0f PUT/s, %d connections, %.0f bytes each on average)"
          % (ok, dt, ok / dt if dt > 0 else 0, a.threads, sum(len(b) for _, b in bodies) / len(bodies)))
    if nfail:
        sys.stderr.write("gen_patients: %d PUT(s) failed; the first %d:\n" % (nfail, len(fails)))
        for f in fails:
            sys.stderr.write("  %s\n" % f)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
