#!/usr/bin/env python3
"""gen_ndjson.py - a deterministic NDJSON file of typical clinical resources,
for the import benchmark (bench/run.sh) and tests.

    python3 bench/gen_ndjson.py --count 200000 [--seed 1] [--out FILE]

Writes COUNT resources, one per line (to stdout without --out), each about
1 KB and each with an id, in a fixed mix per 20 lines:
  2 Patient (pt-N; names, identifier, address, telecom),
  10 Observation (vital signs: LOINC code, valueQuantity, effectiveDateTime,
     subject and encounter references),
  3 Condition, 3 Encounter, 2 MedicationRequest (with subject references).
Every reference points to a Patient or Encounter of the same file. The same
arguments always give the same bytes. The text is produced from string
templates (no json.dumps per resource) so 200,000 resources take a few
seconds; the values that vary are digits and fixed words that need no JSON
escaping. Python 3 standard library only.
"""
import argparse
import sys

PATIENT = (
    '{"resourceType":"Patient","id":"pt-%(n)d","meta":{"profile":["http://hl7.org/fhir/us/core/StructureDefinition/'
    'us-core-patient"]},"text":{"status":"generated","div":"<div xmlns=\\"http://www.w3.org/1999/xhtml\\">'
    'Generated patient %(n)d</div>"},"identifier":[{"use":"usual","type":{"coding":[{"system":'
    '"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR","display":"Medical Record Number"}]},'
    '"system":"http://hospital.example.org/mrn","value":"MRN-%(n)08d"}],"active":true,"name":[{"use":"official",'
    '"family":"%(family)s","given":["%(given)s","%(given2)s"]}],"telecom":[{"system":"phone","value":'
    '"555-%(phone)04d","use":"home"}],"gender":"%(gender)s","birthDate":"%(by)04d-%(bm)02d-%(bd)02d",'
    '"address":[{"use":"home","line":["%(street)d Main Street"],"city":"Springfield","state":"MA",'
    '"postalCode":"0%(zip)04d","country":"US"}],"maritalStatus":{"coding":[{"system":'
    '"http://terminology.hl7.org/CodeSystem/v3-MaritalStatus","code":"M","display":"Married"}]},'
    '"communication":[{"language":{"coding":[{"system":"urn:ietf:bcp:47","code":"en-US","display":'
    '"English (United States)"}]}}]}'
)

OBSERVATION = (
    '{"resourceType":"Observation","id":"obs-%(n)d","meta":{"profile":["http://hl7.org/fhir/StructureDefinition/'
    'vitalsigns"]},"status":"final","category":[{"coding":[{"system":'
    '"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs","display":"Vital Signs"}]}],'
    '"code":{"coding":[{"system":"http://loinc.org","code":"%(loinc)s","display":"%(display)s"}],'
    '"text":"%(display)s"},"subject":{"reference":"Patient/pt-%(pt)d"},"encounter":{"reference":'
    '"Encounter/enc-%(enc)d"},"effectiveDateTime":"%(y)04d-%(m)02d-%(d)02dT%(h)02d:%(mi)02d:00+00:00",'
    '"issued":"%(y)04d-%(m)02d-%(d)02dT%(h)02d:%(mi)02d:30.000+00:00","performer":[{"reference":'
    '"Practitioner/pr-%(pr)d"}],"valueQuantity":{"value":%(value)s,"unit":"%(unit)s","system":'
    '"http://unitsofmeasure.org","code":"%(ucum)s"},"interpretation":[{"coding":[{"system":'
    '"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"N","display":"Normal"}]}],'
    '"referenceRange":[{"low":{"value":%(lo)s,"unit":"%(unit)s","system":"http://unitsofmeasure.org",'
    '"code":"%(ucum)s"},"high":{"value":%(hi)s,"unit":"%(unit)s","system":"http://unitsofmeasure.org",'
    '"code":"%(ucum)s"}}]}'
)

CONDITION = (
    '{"resourceType":"Condition","id":"cond-%(n)d","meta":{"profile":["http://hl7.org/fhir/us/core/'
    'StructureDefinition/us-core-condition"]},"clinicalStatus":{"coding":[{"system":'
    '"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},"verificationStatus":'
    '{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"confirmed"}]},'
    '"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-category","code":'
    '"encounter-diagnosis","display":"Encounter Diagnosis"}]}],"code":{"coding":[{"system":'
    '"http://snomed.info/sct","code":"%(sct)s","display":"%(display)s"}],"text":"%(display)s"},'
    '"subject":{"reference":"Patient/pt-%(pt)d"},"encounter":{"reference":"Encounter/enc-%(enc)d"},'
    '"onsetDateTime":"%(y)04d-%(m)02d-%(d)02dT%(h)02d:%(mi)02d:00+00:00","recordedDate":'
    '"%(y)04d-%(m)02d-%(d)02dT%(h)02d:%(mi)02d:00+00:00","recorder":{"reference":"Practitioner/pr-%(pr)d"},'
    '"note":[{"text":"Recorded during routine visit number %(n)d."}]}'
)

ENCOUNTER = (
    '{"resourceType":"Encounter","id":"enc-%(n)d","meta":{"profile":["http://hl7.org/fhir/us/core/'
    'StructureDefinition/us-core-encounter"]},"identifier":[{"use":"official","system":'
    '"http://hospital.example.org/encounter","value":"ENC-%(n)08d"}],"status":"finished","class":{"system":'
    '"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB","display":"ambulatory"},"type":'
    '[{"coding":[{"system":"http://snomed.info/sct","code":"185349003","display":'
    '"Encounter for check up (procedure)"}],"text":"Encounter for check up (procedure)"}],"subject":'
    '{"reference":"Patient/pt-%(pt)d"},"participant":[{"type":[{"coding":[{"system":'
    '"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"PPRF","display":'
    '"primary performer"}]}],"individual":{"reference":"Practitioner/pr-%(pr)d"}}],"period":{"start":'
    '"%(y)04d-%(m)02d-%(d)02dT%(h)02d:%(mi)02d:00+00:00","end":"%(y)04d-%(m)02d-%(d)02dT%(h2)02d:%(mi)02d:00+00:00"},'
    '"serviceProvider":{"reference":"Organization/org-%(org)d"}}'
)

MEDREQ = (
    '{"resourceType":"MedicationRequest","id":"medrx-%(n)d","meta":{"profile":["http://hl7.org/fhir/us/core/'
    'StructureDefinition/us-core-medicationrequest"]},"status":"active","intent":"order","medication'
    'CodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"%(rx)s",'
    '"display":"%(display)s"}],"text":"%(display)s"},"subject":{"reference":"Patient/pt-%(pt)d"},'
    '"encounter":{"reference":"Encounter/enc-%(enc)d"},"authoredOn":"%(y)04d-%(m)02d-%(d)02dT%(h)02d:%(mi)02d:00+00:00",'
    '"requester":{"reference":"Practitioner/pr-%(pr)d"},"dosageInstruction":[{"sequence":1,"text":'
    '"Take one tablet by mouth daily","timing":{"repeat":{"frequency":1,"period":1,"periodUnit":"d"}},'
    '"asNeededBoolean":false,"doseAndRate":[{"type":{"coding":[{"system":'
    '"http://terminology.hl7.org/CodeSystem/dose-rate-type","code":"ordered","display":"Ordered"}]},'
    '"doseQuantity":{"value":1,"unit":"tablet","system":"http://unitsofmeasure.org","code":"{tbl}"}}]}]}'
)

FAMILY = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Lopez", "Wilson"]
GIVEN = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth"]
VITALS = [("8867-4", "Heart rate", "/min", "/min", 60, 100),
          ("9279-1", "Respiratory rate", "/min", "/min", 12, 20),
          ("8310-5", "Body temperature", "Cel", "Cel", 36, 38),
          ("29463-7", "Body weight", "kg", "kg", 50, 100),
          ("8302-2", "Body height", "cm", "cm", 150, 200),
          ("2708-6", "Oxygen saturation in Arterial blood", "%", "%", 95, 100)]
CONDITIONS = [("44054006", "Diabetes mellitus type 2"), ("38341003", "Hypertensive disorder"),
              ("195662009", "Acute viral pharyngitis"), ("40055000", "Chronic sinusitis"),
              ("10509002", "Acute bronchitis")]
MEDS = [("314076", "lisinopril 10 MG Oral Tablet"), ("860975", "metformin 500 MG Oral Tablet"),
        ("197361", "amlodipine 5 MG Oral Tablet"), ("310965", "ibuprofen 200 MG Oral Tablet")]
# position in each block of 20 lines -> template
MIX = "PPOOOOOOOOOOCCCEEEMM"


def main(argv):
    ap = argparse.ArgumentParser(description="deterministic NDJSON of typical clinical resources")
    ap.add_argument("--count", type=int, default=200000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="-")
    a = ap.parse_args(argv[1:])
    out = sys.stdout if a.out == "-" else open(a.out, "w", encoding="utf-8")
    npat = max(1, a.count // 10)
    nenc = max(1, a.count * 3 // 20)
    counters = dict.fromkeys("POCEM", 0)
    x = a.seed & 0x7FFFFFFF or 1
    lines = []
    for i in range(a.count):
        kind = MIX[i % 20]
        counters[kind] += 1
        n = counters[kind]
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF  # deterministic variation
        v = {"n": n, "pt": 1 + x % npat, "enc": 1 + (x >> 7) % nenc, "pr": 1 + x % 97, "org": 1 + x % 13,
             "y": 2000 + x % 24, "m": 1 + (x >> 3) % 12, "d": 1 + (x >> 5) % 28, "h": (x >> 9) % 22,
             "mi": (x >> 11) % 60}
        if kind == "P":
            v.update(family=FAMILY[x % 10], given=GIVEN[(x >> 4) % 10], given2=GIVEN[(x >> 8) % 10],
                     phone=x % 10000, gender="female" if x & 1 else "male", by=1930 + x % 90,
                     bm=1 + (x >> 2) % 12, bd=1 + (x >> 6) % 28, street=1 + x % 999, zip=x % 10000)
            lines.append(PATIENT % v)
        elif kind == "O":
            code, disp, unit, ucum, lo, hi = VITALS[x % len(VITALS)]
            v.update(loinc=code, display=disp, unit=unit, ucum=ucum, lo=lo, hi=hi,
                     value="%d.%d" % (lo + x % (hi - lo + 1), x % 10))
            lines.append(OBSERVATION % v)
        elif kind == "C":
            v.update(sct=CONDITIONS[x % 5][0], display=CONDITIONS[x % 5][1])
            lines.append(CONDITION % v)
        elif kind == "E":
            v["h2"] = v["h"] + 1
            lines.append(ENCOUNTER % v)
        else:
            v.update(rx=MEDS[x % 4][0], display=MEDS[x % 4][1])
            lines.append(MEDREQ % v)
        if len(lines) >= 4096:
            out.write("\n".join(lines))
            out.write("\n")
            lines = []
    if lines:
        out.write("\n".join(lines))
        out.write("\n")
    if out is not sys.stdout:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
