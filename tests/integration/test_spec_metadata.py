"""GET [base]/metadata: the CapabilityStatement (hl7.org/fhir/R4/http.html#capabilities,
hl7.org/fhir/R4/capabilitystatement.html)."""
import json
import os
import unittest

from itutil import SpecCase

# The 146 concrete R4 (4.0.1) resource types: StructureDefinitions of kind
# "resource", not abstract, fhirVersion 4.0.1 in profiles-resources.json.
# (That file also carries SubscriptionStatus with fhirVersion 4.3.0: an R4B
# type, not part of R4.)
R4_TYPES = """
Account ActivityDefinition AdverseEvent AllergyIntolerance Appointment AppointmentResponse AuditEvent
Basic Binary BiologicallyDerivedProduct BodyStructure Bundle CapabilityStatement CarePlan CareTeam
CatalogEntry ChargeItem ChargeItemDefinition Claim ClaimResponse ClinicalImpression CodeSystem
Communication CommunicationRequest CompartmentDefinition Composition ConceptMap Condition Consent
Contract Coverage CoverageEligibilityRequest CoverageEligibilityResponse DetectedIssue Device
DeviceDefinition DeviceMetric DeviceRequest DeviceUseStatement DiagnosticReport DocumentManifest
DocumentReference EffectEvidenceSynthesis Encounter Endpoint EnrollmentRequest EnrollmentResponse
EpisodeOfCare EventDefinition Evidence EvidenceVariable ExampleScenario ExplanationOfBenefit
FamilyMemberHistory Flag Goal GraphDefinition Group GuidanceResponse HealthcareService ImagingStudy
Immunization ImmunizationEvaluation ImmunizationRecommendation ImplementationGuide InsurancePlan
Invoice Library Linkage List Location Measure MeasureReport Media Medication MedicationAdministration
MedicationDispense MedicationKnowledge MedicationRequest MedicationStatement MedicinalProduct
MedicinalProductAuthorization MedicinalProductContraindication MedicinalProductIndication
MedicinalProductIngredient MedicinalProductInteraction MedicinalProductManufactured
MedicinalProductPackaged MedicinalProductPharmaceutical MedicinalProductUndesirableEffect
MessageDefinition MessageHeader MolecularSequence NamingSystem NutritionOrder Observation
ObservationDefinition OperationDefinition OperationOutcome Organization OrganizationAffiliation
Parameters Patient PaymentNotice PaymentReconciliation Person PlanDefinition Practitioner
PractitionerRole Procedure Provenance Questionnaire QuestionnaireResponse RelatedPerson RequestGroup
ResearchDefinition ResearchElementDefinition ResearchStudy ResearchSubject RiskAssessment
RiskEvidenceSynthesis Schedule SearchParameter ServiceRequest Slot Specimen SpecimenDefinition
StructureDefinition StructureMap Subscription Substance SubstanceNucleicAcid SubstancePolymer
SubstanceProtein SubstanceReferenceInformation SubstanceSourceMaterial SubstanceSpecification
SupplyDelivery SupplyRequest Task TerminologyCapabilities TestReport TestScript ValueSet
VerificationResult VisionPrescription
""".split()

INTERACTIONS = {"read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create",
                "search-type"}


def r4_definitions():
    """profiles-resources.json from the shared FHIR R4 definitions, if present."""
    here = os.path.dirname(os.path.abspath(__file__))
    for d in (os.environ.get("FHIR_R4_DIR", ""), os.path.join(here, "..", "..", "..", "shared", "fhir-r4"),
              "/work/shared/fhir-r4"):
        p = os.path.join(d, "profiles-resources.json")
        if d and os.path.exists(p):
            return p
    return None


class TestTypeList(unittest.TestCase):
    """The embedded list is the R4 one (checked against the definitions when available)."""

    def test_embedded_list_matches_definitions(self):
        self.assertEqual(len(R4_TYPES), 146)
        self.assertEqual(len(set(R4_TYPES)), 146)
        p = r4_definitions()
        if p is None:
            return  # the embedded list stands on its own
        with open(p, encoding="utf-8") as f:
            bundle = json.load(f)
        names = {e["resource"]["name"] for e in bundle["entry"]
                 if e["resource"].get("resourceType") == "StructureDefinition"
                 and e["resource"].get("kind") == "resource" and not e["resource"].get("abstract")
                 and e["resource"].get("fhirVersion", "4.0.1") == "4.0.1"}
        self.assertEqual(names, set(R4_TYPES))


class TestCapabilityStatement(SpecCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cs = cls.server.request("GET", "metadata", fresh=True)

    def test_status_and_content_type(self):
        r = self.cs
        self.assertStatus(r, 200)
        self.assertFhirJson(r)
        self.assertEqual(r.json["resourceType"], "CapabilityStatement")

    def test_required_elements(self):
        cs = self.cs.json
        self.assertEqual(cs["fhirVersion"], "4.0.1")
        self.assertEqual(cs["kind"], "instance")
        self.assertIn(cs.get("status"), ("draft", "active", "retired", "unknown"))
        self.assertInstant(cs["date"] if "T" in cs["date"] else cs["date"] + "T00:00:00Z")
        fmts = cs["format"]
        self.assertIsInstance(fmts, list)
        self.assertTrue(any("json" in f for f in fmts), fmts)
        self.assertFalse(any("xml" in f for f in fmts), "XML is not supported but listed: %s" % fmts)
        self.assertEqual(cs["software"]["name"], "fhird")

    def test_software_version_is_the_binary_version(self):
        from fhirtest import run_cli
        rc, out, _ = run_cli("version")
        self.assertEqual(rc, 0)
        self.assertEqual(out.strip(), "fhird %s" % self.cs.json["software"]["version"])

    def test_rest_server(self):
        rest = self.cs.json["rest"]
        self.assertIsInstance(rest, list)
        self.assertEqual(rest[0]["mode"], "server")
        system = {i["code"] for i in rest[0].get("interaction", [])}
        self.assertIn("history-system", system)
        # batch and transaction (issue 3), system-level search (issue 4)
        self.assertTrue({"batch", "transaction", "search-system"} <= system, system)

    def test_every_r4_type_listed_once(self):
        types = [res["type"] for res in self.cs.json["rest"][0]["resource"]]
        self.assertEqual(len(types), len(set(types)), "duplicate resource entries")
        self.assertEqual(set(types) - set(R4_TYPES), set(), "types that are not R4 resource types")
        self.assertEqual(set(R4_TYPES) - set(types), set(), "R4 types missing")
        self.assertNotIn("SubscriptionStatus", types)

    def test_resource_interactions(self):
        for res in self.cs.json["rest"][0]["resource"]:
            with self.subTest(type=res["type"]):
                codes = [i["code"] for i in res.get("interaction", [])]
                self.assertEqual(len(codes), len(set(codes)))
                # exactly what is implemented
                self.assertEqual(set(codes), INTERACTIONS)
                self.assertEqual(res.get("versioning"), "versioned-update")
                self.assertIs(res.get("readHistory"), True)
                self.assertIs(res.get("updateCreate"), True)
                # every type has at least _id and _lastUpdated (search.html#all)
                names = {p["name"] for p in res.get("searchParam", [])}
                self.assertTrue({"_id", "_lastUpdated"} <= names, names)

    def test_format_json(self):
        for q in ("json", "application/fhir%2Bjson", "application/json"):
            with self.subTest(_format=q):
                r = self.fetch("GET", "metadata?_format=" + q)
                self.assertStatus(r, 200)
                self.assertEqual(r.json, self.cs.json)

    def test_format_xml_406(self):
        for q in ("xml", "application/fhir%2Bxml", "application/xml"):
            with self.subTest(_format=q):
                self.assertOutcome(self.fetch("GET", "metadata?_format=" + q), 406)

    def test_metadata_is_stable(self):
        r = self.fetch("GET", "metadata")
        self.assertStatus(r, 200)
        self.assertEqual(r.json, self.cs.json)
