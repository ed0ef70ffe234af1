// Validates every document of deploy/k8s/*.yaml against the Kubernetes OpenAPI schema, through the model
// classes of the npm package kubernetes-models (ajv underneath). Exits 1 naming the file, document and field.
//   npm ci --prefix deploy/k8s/schema-check && node deploy/k8s/schema-check/validate.mjs
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const manifests = join(dirname(fileURLToPath(import.meta.url)), "..");
// apiVersion "apps/v1" -> module "kubernetes-models/apps/v1/Kind"; the core group "v1" -> "kubernetes-models/v1/Kind".
const modelOf = async (apiVersion, kind) => {
  const module = await import(`kubernetes-models/${apiVersion}/${kind}`).catch(() => null);
  return module?.[kind] ?? null;
};

let failures = 0, checked = 0;
for (const file of readdirSync(manifests).filter((f) => f.endsWith(".yaml")).sort()) {
  const docs = parseAllDocuments(readFileSync(join(manifests, file), "utf8"));
  for (const [i, doc] of docs.entries()) {
    const where = `${file} document ${i + 1}`;
    if (doc.errors.length > 0) { console.error(`error: ${where}: ${doc.errors[0].message}`); failures++; continue; }
    const value = doc.toJS();
    if (value === null) continue;
    const Model = await modelOf(value.apiVersion, value.kind);
    if (!Model) { console.error(`error: ${where}: unknown apiVersion/kind ${value.apiVersion}/${value.kind}`); failures++; continue; }
    try {
      new Model(value).validate();
      console.log(`ok ${where}: ${value.kind} ${value.metadata?.name}`);
      checked++;
    } catch (e) {
      console.error(`error: ${where} (${value.kind} ${value.metadata?.name}): ${e.message}`);
      failures++;
    }
  }
}
if (checked === 0) { console.error(`error: no manifests found in ${manifests}`); failures++; }
process.exit(failures > 0 ? 1 : 0);
