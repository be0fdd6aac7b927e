//! Nothing: the package holds the benchmarks of `inference-monitor` (see Cargo.toml).
