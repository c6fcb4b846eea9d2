# The n8n releases this package is proven on (sourced by test/n8n/n8n.sh, scripts/engine-oldest.sh and
# .ci/run; test/unit/docs/versions.test.ts checks that README.md and package.json say the same).
# N8N_OLDEST: the oldest n8n the README claims; its real-n8n tier and its n8n-core/n8n-workflow engine
# tier run in CI. N8N_NEWEST: the newest 2.x; every tier runs on it.
N8N_OLDEST=2.0.0
N8N_NEWEST=2.41.1
# (2.41.3, the newest 2.x on npm on 2026-12-01, does not install from the registry this CI uses:
# ETARGET, no @n8n/agents@0.26.2. 2.41.1 is the newest that installs.)

# n8n before 2.32 (n8n-nodes-base < 2.32.0) depends on xlsx 0.20.2 as a tarball URL on SheetJS's own
# server, which CI cannot reach (only the npm registry): the installers (n8n.sh, engine-oldest.sh)
# take the same release from its npm mirror, @e965/xlsx@0.20.2, through this npm override. Newer
# n8n already depends on @e965/xlsx itself; for them the override matches nothing.
N8N_NPM_OVERRIDES='{"xlsx":"npm:@e965/xlsx@0.20.2"}'
