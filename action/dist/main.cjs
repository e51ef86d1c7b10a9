// The main step of action.yml (scripts/build-action.mjs writes this file).
require('./bktx-action.cjs').runMain()
