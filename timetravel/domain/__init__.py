"""Pure rules: normalize, redact, diff, managed fields, attribution, time parsing, kustomize
and namespace rules, the snapshot model. No I/O, no clocks, no environment: facts in,
answers out, so every rule is tested on recorded fixtures."""
