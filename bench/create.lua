-- create.lua - wrk script: POST one Patient (create), over keep-alive.
--
--   wrk -t2 -c64 -d10s --latency -s bench/create.lua http://HOST:PORT/fhir/Patient
--
-- Every request sends the same body, a Patient shaped like the ones
-- bench/gen_patients.py makes (about 1.9 KB) and without an id: the server
-- assigns one, so each request creates a new resource and a new row. The
-- request is built once (no Lua per request) so that wrk itself stays cheap.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/fhir+json"
wrk.headers["Accept"] = "application/fhir+json"
wrk.body = [[{"resourceType":"Patient","meta":{"profile":["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]},"extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race","extension":[{"url":"ombCategory","valueCoding":{"system":"urn:oid:2.16.840.1.113883.6.238","code":"2106-3","display":"White"}},{"url":"text","valueString":"White"}]},{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity","extension":[{"url":"ombCategory","valueCoding":{"system":"urn:oid:2.16.840.1.113883.6.238","code":"2135-2","display":"Hispanic or Latino"}},{"url":"text","valueString":"Hispanic or Latino"}]},{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex","valueCode":"F"}],"identifier":[{"use":"usual","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR","display":"Medical record number"}],"text":"Medical record number"},"system":"http://hospital.example.org/mrn","value":"MRN40817263"},{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"SS","display":"Social Security number"}],"text":"Social Security number"},"system":"http://hl7.org/fhir/sid/us-ssn","value":"999-42-1234"}],"active":true,"name":[{"use":"official","family":"Garcia","given":["Maria","Elena"],"prefix":["Ms."]}],"telecom":[{"system":"phone","value":"555-201-7788","use":"mobile"},{"system":"email","value":"maria.garcia42@example.com","use":"home"}],"gender":"female","birthDate":"1978-06-23","address":[{"use":"home","type":"physical","line":["1200 Maple Dr"],"city":"Providence","state":"RI","postalCode":"02906","country":"US","period":{"start":"2010-01-01"}}],"maritalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-MaritalStatus","code":"M","display":"Married"}]},"communication":[{"language":{"coding":[{"system":"urn:ietf:bcp:47","code":"es","display":"Spanish"}]}}]}]]
