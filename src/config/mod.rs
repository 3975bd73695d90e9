//! The tenant registry: YAML loading, environment interpolation and validation.
