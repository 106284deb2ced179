"""US Core 6.1.0 / Argonaut Data Query searches on the Inferno US Core data
(data/demo/uscore_bundle_patient_85.json and _355.json, loaded as they are).

package/CapabilityStatement-us-core-server.json (us_core_610.tgz) lists, per
resource type, the search parameters and combinations a server SHALL (and
SHOULD) support; every SHALL parameter and SHALL combination has a case here,
most SHOULD ones too. Names are those of test_search_common.py: "85" and "355"
for the Patients, the first 8 hex digits of the fullUrl uuid for the rest.

Every expected set was derived from the Bundle files (category, code, status,
dates and subjects read from the JSON; the date rules of search.html#prefix,
see test_search_types.py), never from a server's answer. Date search values
were chosen so that no stored value lies within a day of a boundary, which
keeps the answers independent of the server's time zone for date-only values.

Data facts worth knowing (they limit what some searches can show):
  - Patient 85 has no Condition with category problem-list-item or
    health-concern (its 13 are encounter-diagnosis, one has no category);
    Patient 355 has one of each. Patient 85 has no DiagnosticReport of category
    LAB (its reports are LOINC LP29684-5/LP29708-2/LP7839-6), 355 has two.
  - Patient 85 has no Goal, Device or AllergyIntolerance; 355 has no Coverage,
    MedicationDispense, Specimen or RelatedPerson, and no active
    MedicationRequest.
  - Both Patients are male and born in 1940, so the Patient searches can only
    tell the two apart by name, identifier, exact birth date and death date.
  - There is no QuestionnaireResponse in the data: the SHALL searches on it run
    on one hand-made resource (QR below) referring to Patient/85.
"""
from test_search_common import SearchCase, inferno_subject_names, load_inferno, put_all, stop_shared


def S(names):
    return set(names.split())


QR = {"resourceType": "QuestionnaireResponse", "id": "qr-1", "status": "completed",
      "questionnaire": "http://example.org/fhir/Questionnaire/phq-9",
      "subject": {"reference": "Patient/85"}, "authored": "2023-01-15T10:00:00Z"}


def tearDownModule():
    stop_shared(__name__)


class UsCoreCase(SearchCase):
    @classmethod
    def populate(cls, server, names, state):
        load_inferno(server, names)
        put_all(server, [QR])


class TestPatient(UsCoreCase):
    """Patient: _id, identifier, name (SHALL); birthdate+name, gender+name (SHALL
    combinations); birthdate+family, family+gender, death-date+family (SHOULD).
    85: Bosco882 / Lucien408, born 1940-03-29, died 1977-07-14, SSN 999-47-5768.
    355: official Ritchie586 / Dustin31 and old name Ritchie586 / John43, born
    1940-09-05, alive, SSN 999-61-9797."""

    CASES = [
        ("Patient?_id=85", S("85")),
        ("Patient?_id=85,355", S("85 355")),
        ("Patient?_id=86", S("")),
        ("Patient?identifier=http://hl7.org/fhir/sid/us-ssn|999-47-5768", S("85")),
        ("Patient?identifier=999-61-9797", S("355")),
        ("Patient?identifier=http://hospital.smarthealthit.org|e91975f5-9445-c11f-cabf-c3c6dae161f2", S("355")),
        ("Patient?identifier=https://github.com/synthetichealth/synthea|d831ec91-c7a3-4a61-9312-7ff0c4a32134",
         S("85")),
        ("Patient?identifier=http://hl7.org/fhir/sid/us-ssn|999-47-5768,http://hl7.org/fhir/sid/us-ssn|999-61-9797",
         S("85 355")),
        ("Patient?identifier=http://hl7.org/fhir/sid/us-ssn|999-61-9797&identifier=urn:oid:2.16.840.1.113883.4.3.25|"
         "S99940283", S("355")),
        ("Patient?identifier=http://hl7.org/fhir/sid/us-npi|999-47-5768", S("")),
        ("Patient?name=Ritchie586", S("355")),
        ("Patient?name=bosco", S("85")),
        ("Patient?name=John43", S("355")),                 # 355's old name counts too
        ("Patient?name=lucien", S("85")),
        ("Patient?given=Dustin31", S("355")),
        ("Patient?gender=male", S("85 355")),
        ("Patient?gender=male&name=Ritchie586", S("355")),
        ("Patient?gender=female&name=Ritchie586", S("")),
        ("Patient?birthdate=1940-09-05&name=Ritchie586", S("355")),
        ("Patient?birthdate=1940-03-29&name=Ritchie586", S("")),
        ("Patient?birthdate=1940&name=Bosco882", S("85")),
        ("Patient?birthdate=1940", S("85 355")),
        ("Patient?birthdate=ge1940-06-01", S("355")),
        ("Patient?birthdate=lt1940-06", S("85")),
        ("Patient?family=Bosco882&gender=male", S("85")),
        ("Patient?family=Bosco882&gender=female", S("")),
        ("Patient?birthdate=1940-03&family=Bosco882", S("85")),
        ("Patient?death-date=1977-07&family=Bosco882", S("85")),
        ("Patient?death-date=1977", S("85")),
        ("Patient?death-date:missing=true", S("355")),
    ]

    def test_patient(self):
        self.run_table(self.CASES)


class TestPatientReference(UsCoreCase):
    """patient=85, patient=Patient/85, patient=[base]/Patient/85, subject=Patient/85
    and subject:Patient=85 are the same search (search.html#reference)."""

    def test_reference_forms(self):
        want = S("0254bd52 b8b254a2")
        for form in ("patient=85", "patient=Patient/85", "patient={base}/Patient/85", "patient:Patient=85",
                     "subject=Patient/85", "subject:Patient=85", "subject={base}/Patient/85"):
            with self.subTest(form=form):
                self.assertSearch("Observation?%s&category=laboratory" % form, want)

    def test_every_type_by_patient(self):
        """[type]?patient=X for every type of the data that has a patient parameter:
        exactly the resources whose subject/patient/beneficiary is Patient/X in the
        Bundle files (counts checked against what the files hold)."""
        counts = {
            ("AllergyIntolerance", "355"): 10, ("CarePlan", "355"): 20, ("CarePlan", "85"): 6,
            ("CareTeam", "355"): 20, ("CareTeam", "85"): 6, ("Condition", "355"): 31, ("Condition", "85"): 13,
            ("Coverage", "85"): 1, ("Device", "355"): 2, ("DiagnosticReport", "355"): 23,
            ("DiagnosticReport", "85"): 20, ("DocumentReference", "355"): 21, ("DocumentReference", "85"): 25,
            ("Encounter", "355"): 129, ("Encounter", "85"): 60, ("Goal", "355"): 1, ("Immunization", "355"): 20,
            ("Immunization", "85"): 20, ("Media", "85"): 1, ("MedicationDispense", "85"): 2,
            ("MedicationRequest", "355"): 20, ("MedicationRequest", "85"): 13, ("Observation", "355"): 140,
            ("Observation", "85"): 66, ("Procedure", "355"): 20, ("Procedure", "85"): 20,
            ("RelatedPerson", "85"): 1, ("ServiceRequest", "355"): 2, ("Specimen", "85"): 1,
        }
        types = sorted({t for t, _ in counts})
        for rtype in types:
            for pid in ("85", "355"):
                with self.subTest(type=rtype, patient=pid):
                    want = inferno_subject_names(rtype, pid)
                    self.assertEqual(len(want), counts.get((rtype, pid), 0))
                    self.assertSearch("%s?patient=%s" % (rtype, pid), want)


class TestObservation(UsCoreCase):
    """Observation: patient+category, patient+category+date, patient+code (SHALL);
    patient+code+date, patient+category+status (SHOULD)."""

    CASES = [
        # 85's two laboratory results, effective 2005-07-05 (date only)
        ("Observation?patient=85&category=laboratory", S("0254bd52 b8b254a2")),
        ("Observation?patient=85&category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
         S("0254bd52 b8b254a2")),
        ("Observation?patient=85&category=laboratory&date=2005-07", S("0254bd52 b8b254a2")),
        ("Observation?patient=85&category=laboratory&date=ge2019-01-01", S("")),   # both are from 2005
        ("Observation?patient=355&category=laboratory",
         S("13cb0693 2e0e6d19 3f508d8c 546ccd0c 5ad2167c 78215ed6 855953d8 a715e10d f0eb9a18 f5b631f5")),
        # 355: eight from 2017-09-28, f5b631f5 from 1972-01-13, 5ad2167c a Period on 1972-01-13
        ("Observation?patient=355&category=laboratory&date=ge2000",
         S("13cb0693 2e0e6d19 3f508d8c 546ccd0c 78215ed6 855953d8 a715e10d f0eb9a18")),
        ("Observation?patient=355&category=laboratory&date=lt2000", S("5ad2167c f5b631f5")),
        ("Observation?patient=85&category=vital-signs", S("1800b219 32ef1af4 4b14070a 55705842 f7940ba2")),
        ("Observation?patient=85&category=vital-signs&date=ge2019-01-01", S("4b14070a")),
        # pulse oximetry of 1975-04-07, 1800b219 as a one-hour Period; 4b14070a is from 2020
        ("Observation?patient=85&category=vital-signs&date=1975-04", S("1800b219 32ef1af4 55705842 f7940ba2")),
        # 8bef174a is a Period from 2015-04-24 without end: it reaches past any date
        ("Observation?patient=85&category=social-history&date=ge2015-01-01",
         S("010e9fbf 8bef174a a24de725 ea0ff093")),
        ("Observation?patient=85&category=social-history&date=lt1941",
         S("17ca8cdb 9c7ad407 a2ad9c61 c458c640 eebda29a")),
        ("Observation?patient=85&category=survey",
         S("4ad13fb9 527fa5dd 7fcb009a 8429d80d 86744768 8c0a9a88 8d0f6cc9 a7338847")),
        # sdoh is a code of us-core-category and of us-core-tags: any system
        ("Observation?patient=85&category=sdoh", S("86744768 8d0f6cc9 a7338847")),
        ("Observation?patient=85&category=http://hl7.org/fhir/us/core/CodeSystem/us-core-category|sdoh",
         S("86744768 8d0f6cc9 a7338847")),
        ("Observation?patient=85&category=laboratory&status=final", S("0254bd52 b8b254a2")),
        # smoking status, 37 of them from 1940 to 1977
        ("Observation?patient=85&code=http://loinc.org|72166-2",
         S("04eb9d70 0a8429d6 17840b34 17ca8cdb 21893bad 23f3ee46 2af21651 2ca62f94 383b6b6a 3eefe43a "
           "411b925b 4f187202 50d27d93 54cb2e6d 6cf4e6f2 6fa00277 7c53ea66 816e5bd7 885f0fba 9c7ad407 "
           "a500783c ae3841d9 c458c640 c9a8907f c9bd4b22 cbd1906e cc611047 cea542e7 cfebca1b d6eae86c "
           "dc8e8212 e18834b7 e1900661 eaa2fdbd eebda29a eedb5dc2 f5d89e05")),
        # pulse oximetry carries two codings, 2708-6 and 59408-5
        ("Observation?patient=85&code=http://loinc.org|2708-6", S("1800b219 32ef1af4 55705842 f7940ba2")),
        ("Observation?patient=85&code=http://loinc.org|59408-5", S("1800b219 32ef1af4 55705842 f7940ba2")),
        ("Observation?patient=85&code=http://loinc.org|44250-9", S("7fcb009a 86744768 8d0f6cc9")),
        ("Observation?patient=85&code=http://loinc.org|72166-2&date=ge1970",
         S("411b925b 6fa00277 816e5bd7 cea542e7 dc8e8212")),
        ("Observation?patient=355&code=http://loinc.org|785-6", S("5ad2167c f5b631f5")),
        ("Observation?patient=355&code=http://loinc.org|785-6&date=1972", S("5ad2167c f5b631f5")),
        ("Observation?patient=85&code=http://loinc.org|72166-2,http://loinc.org|2708-6&date=1975",
         S("1800b219 32ef1af4 55705842 6fa00277 f7940ba2")),
    ]

    def test_observation(self):
        self.run_table(self.CASES)


class TestCondition(UsCoreCase):
    """Condition: patient (SHALL), patient+category (SHALL); clinical-status,
    category+clinical-status, code, onset-date, abatement-date, recorded-date
    (SHOULD). Patient 85 has no problem-list-item (see the module docstring)."""

    CASES = [
        ("Condition?patient=85",
         S("118c7c21 4f2bf16a 543a4968 5bd61db6 6fdf967e 76e9dd05 8a141201 8d0b6c2c 9d3e5de3 a90a110c "
           "af17d0fa c8102e50 ef212a07")),
        ("Condition?patient=85&category=encounter-diagnosis",
         S("118c7c21 4f2bf16a 543a4968 5bd61db6 6fdf967e 76e9dd05 8a141201 8d0b6c2c 9d3e5de3 a90a110c "
           "af17d0fa c8102e50")),
        ("Condition?patient=85&category=problem-list-item", S("")),
        ("Condition?patient=355&category=problem-list-item", S("b9fbaa22")),
        ("Condition?patient=355&category=http://hl7.org/fhir/us/core/CodeSystem/condition-category|health-concern",
         S("3d4b6ff1")),
        ("Condition?patient=355&category=problem-list-item,health-concern", S("3d4b6ff1 b9fbaa22")),
        ("Condition?patient=85&clinical-status=active", S("543a4968")),
        ("Condition?patient=85&category=encounter-diagnosis&clinical-status=resolved",
         S("118c7c21 4f2bf16a 5bd61db6 6fdf967e 76e9dd05 8a141201 8d0b6c2c 9d3e5de3 a90a110c af17d0fa "
           "c8102e50")),
        ("Condition?patient=85&code=http://snomed.info/sct|195662009",
         S("118c7c21 76e9dd05 af17d0fa c8102e50 ef212a07")),
        ("Condition?patient=85&onset-date=ge1970", S("118c7c21 543a4968")),
        ("Condition?patient=85&abatement-date=lt1942", S("5bd61db6 c8102e50")),
        ("Condition?patient=85&recorded-date=1969", S("76e9dd05 8d0b6c2c")),
        ("Condition?patient=355&category=problem-list-item&clinical-status=resolved", S("b9fbaa22")),
        ("Condition?patient=355&category=problem-list-item&clinical-status=active", S("")),
        ("Condition?patient=355&category=health-concern&clinical-status=active", S("3d4b6ff1")),
        ("Condition?patient=85&category=encounter-diagnosis&encounter={Encounter/d763ee98}", S("5bd61db6")),
        # ef212a07 (encounter 8c42de09) has no category
        ("Condition?patient=85&category=encounter-diagnosis&encounter={Encounter/8c42de09}", S("")),
    ]

    def test_condition(self):
        self.run_table(self.CASES)


class TestDiagnosticReport(UsCoreCase):
    """DiagnosticReport: patient (SHALL), patient+category, patient+category+date,
    patient+code (SHALL); patient+code+date, patient+status (SHOULD)."""

    CASES = [
        ("DiagnosticReport?patient=355&category=LAB", S("23516e68 66425fb5")),
        ("DiagnosticReport?patient=355&category=http://terminology.hl7.org/CodeSystem/v2-0074|LAB",
         S("23516e68 66425fb5")),
        ("DiagnosticReport?patient=355&category=LAB&date=2017", S("23516e68 66425fb5")),
        ("DiagnosticReport?patient=355&category=LAB&date=lt2017", S("")),
        ("DiagnosticReport?patient=85&category=LAB", S("")),                 # 85 has none (docstring)
        ("DiagnosticReport?patient=85&category=http://loinc.org|LP29684-5",
         S("15ad0f57 4fcadab6 62a8663b 9e125219 acc9d16d d7130c41 eb75e932")),
        ("DiagnosticReport?patient=85&category=http://loinc.org|LP29684-5&date=ge1950",
         S("15ad0f57 4fcadab6 62a8663b eb75e932")),
        ("DiagnosticReport?patient=85&code=http://loinc.org|11506-3", S("2536ace1 acc9d16d ec5b8793")),
        ("DiagnosticReport?patient=85&code=http://loinc.org|11506-3&date=lt1950", S("2536ace1 acc9d16d")),
        ("DiagnosticReport?patient=85&status=final",
         S("098c94c2 15ad0f57 2469bdd9 24db4298 2536ace1 393d97e4 3a79a6cf 4fcadab6 5904ddbb 62a8663b "
           "6f01c40c 95f2314e 9e125219 a6e8a4af acc9d16d cdfc0fc1 d7130c41 e4e2aab9 eb75e932 ec5b8793")),
    ]

    def test_diagnostic_report(self):
        self.run_table(self.CASES)


class TestDocumentReference(UsCoreCase):
    """DocumentReference: _id, patient (SHALL), patient+category, patient+type,
    patient+category+date (SHALL); patient+status, patient+type+period (SHOULD)."""

    CASES = [
        ("DocumentReference?_id={DocumentReference/cf2587fa}", S("cf2587fa")),
        ("DocumentReference?patient=85&category=clinical-note",
         S("1fb7df92 2451b3e6 2cd64eb0 335aec12 4aadb436 4c0804c7 54fc5de2 5e2997a2 78021529 7bed7c85 "
           "82a60fe5 868b6f6a 88987418 8cddb8c5 aa08bccc acbd3263 aea348aa afadf261 bc14c0c2 c7207b52 "
           "ce01eb8d e3a60212 ee2cb5f0 ffbcff69")),
        ("DocumentReference?patient=85&category="
         "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category|clinical-note",
         S("1fb7df92 2451b3e6 2cd64eb0 335aec12 4aadb436 4c0804c7 54fc5de2 5e2997a2 78021529 7bed7c85 "
           "82a60fe5 868b6f6a 88987418 8cddb8c5 aa08bccc acbd3263 aea348aa afadf261 bc14c0c2 c7207b52 "
           "ce01eb8d e3a60212 ee2cb5f0 ffbcff69")),
        ("DocumentReference?patient=85&category=clinical-note&date=ge1970",
         S("2451b3e6 335aec12 868b6f6a aea348aa c7207b52")),
        ("DocumentReference?patient=85&category=http://loinc.org|42348-3", S("cf2587fa")),
        ("DocumentReference?patient=85&type=http://loinc.org|11506-3", S("82a60fe5 88987418 acbd3263")),
        ("DocumentReference?patient=85&status=current", S("335aec12 868b6f6a c7207b52 ce01eb8d cf2587fa")),
        ("DocumentReference?patient=85&type=http://loinc.org|18748-4&period=1975-10", S("c7207b52")),
        ("DocumentReference?patient=85&period=1975", S("aea348aa c7207b52")),
    ]

    def test_document_reference(self):
        self.run_table(self.CASES)


class TestEncounter(UsCoreCase):
    """Encounter: _id, patient (SHALL), date+patient (SHALL); identifier, class,
    type, status, location (SHOULD). 73d083ce runs 1975-04-07..04-08, so it is
    inside the month 1975-04 but not inside the year 1976."""

    CASES = [
        ("Encounter?_id={Encounter/09775519}", S("09775519")),
        ("Encounter?identifier=https://github.com/synthetichealth/synthea|09775519-5327-3bbf-cb95-66313dde54ee",
         S("09775519")),
        ("Encounter?patient=85&date=1975", S("518313f8 73d083ce 887bc47f d09874e2")),
        # 73d083ce runs 1975-04-07..04-08: inside the month
        ("Encounter?patient=85&date=1975-04", S("518313f8 73d083ce")),
        ("Encounter?patient=85&date=ge1977", S("1caa11a9 373c3332 6ddb7da9")),
        ("Encounter?patient=85&date=ge1977-01-01&date=lt1977-04-01", S("1caa11a9 373c3332")),
        ("Encounter?patient=85&class=EMER", S("1caa11a9 518313f8 ac532a0f")),
        ("Encounter?patient=85&class=http://terminology.hl7.org/CodeSystem/v3-ActCode|IMP", S("373c3332 73d083ce")),
        ("Encounter?patient=85&type=http://snomed.info/sct|305351004", S("373c3332 73d083ce")),
        ("Encounter?patient=85&status=finished&date=1976", S("00c420ae ac6f34bc bab204b1")),
        ("Encounter?patient=85&location={Location/8944e7cf}&date=1977",
         S("1caa11a9 373c3332")),
    ]

    def test_encounter(self):
        self.run_table(self.CASES)


class TestProcedureImmunization(UsCoreCase):
    """Procedure: patient, patient+date (SHALL); patient+code+date, status (SHOULD).
    Immunization: patient (SHALL); patient+date, patient+status (SHOULD)."""

    CASES = [
        ("Procedure?patient=85&date=1977", S("14c55ad5 64130739 75864cda 8f402819 ea0c46b2 f0986189")),
        ("Procedure?patient=85&date=ge1976",
         S("14c55ad5 64130739 66cdf54c 75864cda 8839e0a6 8f402819 ea0c46b2 f0986189")),
        ("Procedure?patient=85&date=lt1941", S("a1817b7b")),
        ("Procedure?patient=85&code=http://snomed.info/sct|371908008", S("14c55ad5 64130739 ea0c46b2 ef99d921")),
        ("Procedure?patient=85&code=http://snomed.info/sct|430193006&date=ge1970", S("8839e0a6 da74f393 f0986189")),
        ("Procedure?patient=85&status=completed",
         S("03415ee5 14c55ad5 64130739 66cdf54c 6e2a2afb 6f269626 75864cda 8839e0a6 8e10edeb 8f402819 "
           "9ccbac0b a1817b7b ad352ec4 b3e75a9e c9c71265 da74f393 e9571cee ea0c46b2 ef99d921 f0986189")),
        ("Immunization?patient=85",
         S("08a7f452 2cc62d75 2d04e01b 408e0500 47971697 594c69c2 5fcf5168 630c3981 69851d3f 6c01ed22 "
           "6ced21e9 7031ea10 8463a5e3 96e1e01d a48ec4c4 b8941bd9 bd1cf957 d8497bd5 f68553f2 f8a1ed77")),
        ("Immunization?patient=355",
         S("0eb20ec6 11a8bb7a 1443b891 1c70bfb5 25b122c4 26e5387f 27433448 2c643e6a 36d748e4 3decbf32 "
           "576ab2e2 701b5834 7c8c8f5c 8632f788 9862d1e7 99a18871 ddd8292d e6541f47 f2f70ccc f42a9af9")),
        ("Immunization?patient=85&date=ge1970", S("47971697 69851d3f 6c01ed22 b8941bd9 f68553f2")),
        ("Immunization?patient=85&status=completed",
         S("08a7f452 2cc62d75 2d04e01b 408e0500 47971697 594c69c2 5fcf5168 630c3981 69851d3f 6c01ed22 "
           "6ced21e9 7031ea10 8463a5e3 96e1e01d a48ec4c4 b8941bd9 bd1cf957 d8497bd5 f68553f2 f8a1ed77")),
        ("Immunization?patient=355&vaccine-code=http://hl7.org/fhir/sid/cvx|113", S("1443b891 2c643e6a")),
    ]

    def test_procedure_and_immunization(self):
        self.run_table(self.CASES)


class TestCarePlanCareTeamGoal(UsCoreCase):
    """CarePlan: patient+category (SHALL), +status, +date (SHOULD); 71a133e4 is an
    active plan with an open-ended period (from 1974-04-12). CareTeam: patient+status
    (SHALL), patient+role (SHOULD). Goal: patient (SHALL), lifecycle-status,
    target-date, description (SHOULD)."""

    CASES = [
        ("CarePlan?patient=85&category=assess-plan", S("3078be7f 36b0309c 4858a497 5e48f4c3 71a133e4 8a246b29")),
        ("CarePlan?patient=85&category=http://hl7.org/fhir/us/core/CodeSystem/careplan-category|assess-plan",
         S("3078be7f 36b0309c 4858a497 5e48f4c3 71a133e4 8a246b29")),
        ("CarePlan?patient=85&category=assess-plan&status=active", S("71a133e4")),
        # 71a133e4: Period from 1974-04-12, no end; 36b0309c: 1977-03-28..30
        ("CarePlan?patient=85&category=assess-plan&date=ge1977", S("36b0309c 71a133e4")),
        ("CarePlan?patient=85&category=assess-plan&status=active&date=ge1977", S("71a133e4")),
        # 4858a497 runs 1958-12-21..1959-05-29: not inside 1958, but it starts before 1959
        ("CarePlan?patient=85&category=assess-plan&date=1958", S("")),
        ("CarePlan?patient=85&category=assess-plan&date=lt1959", S("3078be7f 4858a497")),
        ("CarePlan?patient=355&category=assess-plan&status=active",
         S("82e7b65f d4072570 df629a86 e7a4ca6f f9fb1611")),
        ("CareTeam?patient=85&status=active", S("6edb0666")),
        ("CareTeam?patient=355&status=active", S("72363724 a5a74bc6 b603867f b902ddda cc47c8fe")),
        ("CareTeam?patient=85&status=inactive,active", S("501b80ff 6368297c 697d8c04 6edb0666 7080b1fe eee8b647")),
        ("CareTeam?patient=85&role=http://snomed.info/sct|133932002", S("6edb0666")),
        ("Goal?patient=355", S("d855c64b")),
        ("Goal?patient=85", S("")),
        ("Goal?patient=355&lifecycle-status=active", S("d855c64b")),
        ("Goal?patient=355&target-date=2020-12-07", S("d855c64b")),
        ("Goal?patient=355&target-date=lt2020", S("")),
        ("Goal?patient=355&description=http://snomed.info/sct|281004", S("d855c64b")),
    ]

    def test_careplan_careteam_goal(self):
        self.run_table(self.CASES)


class TestMedications(UsCoreCase):
    """MedicationRequest: patient+intent, patient+intent+status (SHALL);
    +authoredon, +encounter (SHOULD). MedicationDispense: patient (SHALL),
    +status, +status+type (SHOULD). The _include of the medication is in
    test_search_results.py."""

    CASES = [
        ("MedicationRequest?patient=85&intent=order",
         S("1d8ed63d 2aa0550c 3722c630 3b2213dc 41cc2412 598dc7b5 60fdcf88 6c015d9f 81b50a2d c98ce29f "
           "cc64709b e1b12bbb f3af5d3b")),
        ("MedicationRequest?patient=85&intent=order&status=active", S("3722c630 c98ce29f")),
        ("MedicationRequest?patient=355&intent=plan", S("cee54f36")),
        ("MedicationRequest?patient=355&intent=order&status=active", S("")),
        ("MedicationRequest?patient=85&intent=order&authoredon=ge1977", S("c98ce29f")),
        ("MedicationRequest?patient=355&intent=order,plan&authoredon=2020", S("10bfbdf9 507d3de3 cee54f36 dd2efe67")),
        ("MedicationRequest?patient=355&intent=order&encounter={Encounter/135f0143}", S("507d3de3 dd2efe67")),
        ("MedicationDispense?patient=85", S("17991da0 1bc16d93")),
        ("MedicationDispense?patient=85&status=completed&type=http://terminology.hl7.org/CodeSystem/v3-ActCode|FFC",
         S("17991da0")),
        ("MedicationDispense?patient=85&status=completed", S("17991da0 1bc16d93")),
    ]

    def test_medications(self):
        self.run_table(self.CASES)


class TestOtherClinical(UsCoreCase):
    """AllergyIntolerance, Coverage, Device, ServiceRequest, Specimen,
    RelatedPerson, QuestionnaireResponse: their SHALL parameters (patient, _id)
    and the SHOULD combinations the data can show."""

    CASES = [
        ("AllergyIntolerance?patient=355",
         S("20e8e2f3 4518502e aa077f14 c88bfb59 c99d1d47 cc59f559 d6005a66 e82d4eac fb30cba3 fef8789a")),
        ("AllergyIntolerance?patient=85", S("")),
        ("AllergyIntolerance?patient=355&clinical-status=inactive", S("4518502e d6005a66")),
        ("Coverage?patient=85", S("55c952c8")),
        ("Coverage?patient=355", S("")),
        ("Device?patient=355", S("592f034c 8e1d371f")),
        ("Device?patient=85", S("")),
        ("Device?patient=355&type=http://snomed.info/sct|72506001", S("592f034c 8e1d371f")),
        ("Device?patient=355&status=inactive", S("")),
        ("ServiceRequest?patient=355", S("706eb626 ba89c2af")),
        ("ServiceRequest?patient=355&category=http://snomed.info/sct|387713003", S("ba89c2af")),
        ("ServiceRequest?patient=355&category=http://snomed.info/sct|387713003&authored=2015", S("ba89c2af")),
        ("ServiceRequest?patient=355&code=http://snomed.info/sct|24165007", S("706eb626")),
        ("ServiceRequest?patient=355&status=active", S("706eb626")),
        ("ServiceRequest?_id={ServiceRequest/706eb626}", S("706eb626")),
        ("ServiceRequest?patient=355&code=http://snomed.info/sct|24165007&authored=ge2021", S("706eb626")),
        ("Specimen?patient=85", S("82115a91")),
        ("Specimen?_id={Specimen/82115a91}", S("82115a91")),
        ("RelatedPerson?patient=85", S("4c5dbb9f")),
        ("RelatedPerson?_id={RelatedPerson/4c5dbb9f}", S("4c5dbb9f")),
        ("RelatedPerson?patient=85&name=Jefferson174", S("4c5dbb9f")),
        ("QuestionnaireResponse?patient=85", S("qr-1")),
        ("QuestionnaireResponse?patient=355", S("")),
        ("QuestionnaireResponse?_id=qr-1", S("qr-1")),
        ("QuestionnaireResponse?patient=85&status=completed", S("qr-1")),
        ("QuestionnaireResponse?patient=85&authored=2023-01", S("qr-1")),
        ("QuestionnaireResponse?patient=85&authored=lt2023", S("")),
        ("QuestionnaireResponse?patient=85&questionnaire=http://example.org/fhir/Questionnaire/phq-9", S("qr-1")),
    ]

    def test_other_clinical(self):
        self.run_table(self.CASES)


class TestProviders(UsCoreCase):
    """Location: name, address (SHALL), address-city/-state/-postalcode (SHOULD).
    Organization: name, address (SHALL). Practitioner: name, identifier (SHALL),
    _id (SHOULD). PractitionerRole: specialty, practitioner (SHALL).
    Locations: 690866aa PCP87052 (DRACUT, 01826-2611), 8944e7cf LOWELL GENERAL
    HOSPITAL (LOWELL, 01854), ecd8399c PCP170967 (WEST SPRINGFIELD, 01089-1540),
    70b2a52f HOLYOKE MEDICAL CENTER (HOLYOKE, 01040), 4c34c0db RIVER BEND MEDICAL
    GROUP - CHICOPEE OFFICE - URGENT CARE (CHICOPEE, 1020), all in MA.
    Organizations (same names and addresses): 56090ab7, b0e04623, c7459800,
    5d4b9df1, a9afd4c9. Every PractitionerRole has specialty NUCC 208D00000X."""

    CASES = [
        ("Location?name=PCP87052", S("690866aa")),
        ("Location?name=lowell", S("8944e7cf")),
        ("Location?name=pcp", S("690866aa ecd8399c")),
        ("Location?address=Holyoke", S("70b2a52f")),
        ("Location?address-city=west springfield", S("ecd8399c")),
        ("Location?address-state=MA", S("690866aa 8944e7cf ecd8399c 70b2a52f 4c34c0db")),
        ("Location?address-postalcode=01854", S("8944e7cf")),
        ("Location?address-postalcode=0108", S("ecd8399c")),
        ("Organization?name=LOWELL", S("b0e04623")),
        ("Organization?name=pcp", S("56090ab7 c7459800")),
        ("Organization?address=CHICOPEE", S("a9afd4c9")),
        ("Organization?address-city=dracut", S("56090ab7")),
        ("Organization?identifier=http://hl7.org/fhir/sid/us-npi|1144221847", S("56090ab7")),
        ("Practitioner?name=Torp761", S("c38e2d6b")),
        ("Practitioner?name=blossom", S("618787f5")),
        ("Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9941339100", S("c38e2d6b")),
        ("Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|1250905357,http://hl7.org/fhir/sid/us-npi|9706202469",
         S("8bee2ee3 cf8468d4")),
        ("Practitioner?_id={Practitioner/eb10a604}", S("eb10a604")),
        ("PractitionerRole?specialty=http://nucc.org/provider-taxonomy|208D00000X",
         S("9482b2d2 8e81b028 0fb6ec70 0e919364 0f69d72e")),
        ("PractitionerRole?practitioner=Practitioner/{Practitioner/c38e2d6b}", S("9482b2d2")),
        ("PractitionerRole?practitioner={Practitioner/618787f5}", S("0fb6ec70")),
        ("PractitionerRole?practitioner.name=Kilback373", S("0e919364")),
        ("PractitionerRole?practitioner.identifier=http://hl7.org/fhir/sid/us-npi|9706202469", S("0f69d72e")),
    ]

    def test_providers(self):
        self.run_table(self.CASES)


if __name__ == "__main__":
    import unittest
    unittest.main()
