// Reads a JSON array of Kubernetes documents on stdin and validates every Argo CD
// Application and AppProject in it with the validators @kubernetes-models/argo-cd
// generates from Argo CD's own CRDs (openAPIV3Schema of applications.argoproj.io).
// Prints one line per invalid document and exits 1 if there is any.
import { AppProject, Application } from "@kubernetes-models/argo-cd/argoproj.io/v1alpha1";

const models = { Application, AppProject };
let input = "";
for await (const chunk of process.stdin) input += chunk;
const docs = JSON.parse(input);
let bad = 0;
let checked = 0;
for (const doc of docs) {
  const Model = doc.apiVersion === "argoproj.io/v1alpha1" ? models[doc.kind] : undefined;
  if (Model === undefined) continue;
  checked += 1;
  try {
    new Model(doc).validate();
  } catch (err) {
    bad += 1;
    console.log(`${doc.kind}/${doc.metadata?.name}: ${err.message}`);
  }
}
console.log(`checked ${checked}, invalid ${bad}`);
process.exit(bad ? 1 : 0);
