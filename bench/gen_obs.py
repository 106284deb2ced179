#!/usr/bin/env python3
"""gen_obs.py - deterministic NDJSON of Patients and US Core shaped
Observations, for the search benchmark (bench/search.sh).

    python3 bench/gen_obs.py --patients 10000 --observations 1000000 \\
        [--big 1000] [--seed 1] [--out FILE]

Writes, one resource per line (to stdout without --out), Patients first:
  - Patients p1..pN (US Core Patient shape: identifier, name, gender,
    birthDate), and one more Patient "pbig";
  - Observations o1..oM spread evenly over p1..pN: o<i> belongs to
    p<((i-1) mod N)+1>, so every patient gets M/N of them (+1 for the first
    M mod N patients). The category alternates per round of N: round r =
    (i-1) div N is vital-signs when r is even, laboratory when odd, so every
    patient gets half of each (M/N even) and half of all Observations are
    vital signs. Vital signs follow the R4 vital-signs profiles (heart rate,
    respiratory rate, body temperature, weight, height, BMI, SpO2), labs
    US Core Laboratory Result Observation (glucose, creatinine, hemoglobin,
    potassium, sodium, HbA1c, leukocytes); every one has status final, a
    category coding from
    http://terminology.hl7.org/CodeSystem/observation-category, a LOINC code,
    subject Patient/pK, an effectiveDateTime between 2005 and 2024 and a
    valueQuantity in UCUM;
  - BIG (default 1000) Observations obig1..obigBIG of Patient/pbig, all
    vital-signs, for measuring paging through one 1,000-result search.
Total lines: N + 1 + M + BIG. The same arguments always give the same bytes
(random.Random(seed); no clock). Text comes from string templates (no
json.dumps per line; every varying value is digits or a fixed word that needs
no JSON escaping), about 1M Observations in well under a minute. Python 3
standard library only.
"""
import argparse
import random
import sys

CAT_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"

PATIENT = (
    '{"resourceType":"Patient","id":"%(id)s","meta":{"profile":["http://hl7.org/fhir/us/core/StructureDefinition/'
    'us-core-patient"]},"identifier":[{"system":"http://hospital.example.org/mrn","value":"MRN-%(mrn)s"}],'
    '"active":true,"name":[{"use":"official","family":"%(family)s","given":["%(given)s"]}],'
    '"gender":"%(gender)s","birthDate":"%(by)04d-%(bm)02d-%(bd)02d"}\n'
)

# One template per category; %(...)s fields are filled per Observation.
OBS = {
    "vital-signs": (
        '{"resourceType":"Observation","id":"%(id)s","meta":{"profile":["%(profile)s"]},"status":"final",'
        '"category":[{"coding":[{"system":"' + CAT_SYSTEM + '","code":"vital-signs","display":"Vital Signs"}],'
        '"text":"Vital Signs"}],"code":{"coding":[{"system":"http://loinc.org","code":"%(loinc)s",'
        '"display":"%(display)s"}],"text":"%(display)s"},"subject":{"reference":"Patient/%(pt)s"},'
        '"effectiveDateTime":"%(y)04d-%(m)02d-%(d)02dT%(h)02d:%(mi)02d:00Z","valueQuantity":{"value":%(value)s,'
        '"unit":"%(unit)s","system":"http://unitsofmeasure.org","code":"%(ucum)s"}}\n'
    ),
    "laboratory": (
        '{"resourceType":"Observation","id":"%(id)s","meta":{"profile":["http://hl7.org/fhir/us/core/'
        'StructureDefinition/us-core-observation-lab"]},"status":"final",'
        '"category":[{"coding":[{"system":"' + CAT_SYSTEM + '","code":"laboratory","display":"Laboratory"}],'
        '"text":"Laboratory"}],"code":{"coding":[{"system":"http://loinc.org","code":"%(loinc)s",'
        '"display":"%(display)s"}],"text":"%(display)s"},"subject":{"reference":"Patient/%(pt)s"},'
        '"effectiveDateTime":"%(y)04d-%(m)02d-%(d)02dT%(h)02d:%(mi)02d:00Z","issued":'
        '"%(y)04d-%(m)02d-%(d)02dT%(h2)02d:%(mi)02d:00Z","valueQuantity":{"value":%(value)s,'
        '"unit":"%(unit)s","system":"http://unitsofmeasure.org","code":"%(ucum)s"},'
        '"referenceRange":[{"low":{"value":%(lo)s,"unit":"%(unit)s","system":"http://unitsofmeasure.org",'
        '"code":"%(ucum)s"},"high":{"value":%(hi)s,"unit":"%(unit)s","system":"http://unitsofmeasure.org",'
        '"code":"%(ucum)s"}}]}\n'
    ),
}

# (LOINC, display, unit, UCUM code, low, high, decimals, profile)
VITALS = [
    ("8867-4", "Heart rate", "beats/minute", "/min", 55, 110, 0, "heartrate"),
    ("9279-1", "Respiratory rate", "breaths/minute", "/min", 12, 22, 0, "resprate"),
    ("8310-5", "Body temperature", "C", "Cel", 36.0, 38.5, 1, "bodytemp"),
    ("29463-7", "Body weight", "kg", "kg", 45.0, 120.0, 1, "bodyweight"),
    ("8302-2", "Body height", "cm", "cm", 150.0, 200.0, 1, "bodyheight"),
    ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", "kg/m2", 18.0, 35.0, 1, "bmi"),
    ("2708-6", "Oxygen saturation in Arterial blood", "%", "%", 92, 100, 0, "oxygensat"),
]
# (LOINC, display, unit, UCUM code, low, high, decimals, reference low, reference high)
LABS = [
    ("2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", "mg/dL", 65, 200, 0, 70, 99),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 0.5, 1.8, 2, 0.6, 1.3),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", "g/dL", 10.0, 17.5, 1, 12.0, 17.5),
    ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", "mmol/L", 3.2, 5.4, 1, 3.5, 5.1),
    ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", "mmol/L", 132, 148, 0, 136, 145),
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", "%", 4.5, 9.5, 1, 4.0, 5.6),
    ("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", "10*3/uL", 3.0, 12.0, 1, 4.5, 11.0),
]
FAMILY = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Lopez", "Wilson",
          "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin"]
GIVEN_F = ["Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica"]
GIVEN_M = ["James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph"]


def num(v, decimals):
    return "%d" % round(v) if decimals == 0 else "%.*f" % (decimals, v)


def patient(rng, pid, n):
    female = rng.random() < 0.5
    return PATIENT % {
        "id": pid, "mrn": "%08d" % n,
        "family": FAMILY[rng.randrange(len(FAMILY))],
        "given": (GIVEN_F if female else GIVEN_M)[rng.randrange(8)],
        "gender": "female" if female else "male",
        "by": 1930 + rng.randrange(90), "bm": 1 + rng.randrange(12), "bd": 1 + rng.randrange(28),
    }


def observation(rng, oid, pid, vital):
    r = rng.random
    f = {"id": oid, "pt": pid,
         "y": 2005 + int(r() * 20), "m": 1 + int(r() * 12), "d": 1 + int(r() * 28),
         "h": 6 + int(r() * 12), "mi": int(r() * 60)}
    if vital:
        loinc, display, unit, ucum, lo, hi, dec, prof = VITALS[int(r() * len(VITALS))]
        f["profile"] = "http://hl7.org/fhir/StructureDefinition/" + prof
        text = OBS["vital-signs"]
    else:
        loinc, display, unit, ucum, lo, hi, dec, rlo, rhi = LABS[int(r() * len(LABS))]
        f["h2"] = f["h"] + 2
        f["lo"] = num(rlo, dec)
        f["hi"] = num(rhi, dec)
        text = OBS["laboratory"]
    f["loinc"] = loinc
    f["display"] = display
    f["unit"] = unit
    f["ucum"] = ucum
    f["value"] = num(lo + r() * (hi - lo), dec)
    return text % f


def generate(out, patients, observations, big, seed):
    rng = random.Random(seed)
    w = out.write
    for n in range(1, patients + 1):
        w(patient(rng, "p%d" % n, n))
    if big > 0:
        w(patient(rng, "pbig", 0))
    buf = []
    for i in range(1, observations + 1):
        k = (i - 1) % patients + 1
        vital = ((i - 1) // patients) % 2 == 0
        buf.append(observation(rng, "o%d" % i, "p%d" % k, vital))
        if len(buf) >= 4096:
            w("".join(buf))
            buf.clear()
    for i in range(1, big + 1):
        buf.append(observation(rng, "obig%d" % i, "pbig", True))
    w("".join(buf))


def main(argv):
    ap = argparse.ArgumentParser(description="deterministic NDJSON of Patients and US Core shaped Observations")
    ap.add_argument("--patients", type=int, default=10000, help="Patients p1..pN (default 10000)")
    ap.add_argument("--observations", type=int, default=1000000, help="Observations o1..oM (default 1000000)")
    ap.add_argument("--big", type=int, default=1000,
                    help="vital-signs Observations of the extra Patient pbig (default 1000; 0: no pbig)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="-", help="output file (default: stdout)")
    a = ap.parse_args(argv)
    if a.patients < 1 or a.observations < 0 or a.big < 0:
        ap.error("--patients must be >= 1, --observations and --big >= 0")
    if a.out == "-":
        generate(sys.stdout, a.patients, a.observations, a.big, a.seed)
        sys.stdout.flush()
    else:
        with open(a.out, "w", encoding="ascii", newline="\n") as f:
            generate(f, a.patients, a.observations, a.big, a.seed)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:
        sys.exit(1)
