//! Node configuration in YAML.
