//! Layered loading: defaults < file < environment < flags.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};

use crate::Config;

/// A configuration that cannot be used; names the field.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {field}: {message}")]
pub struct ConfigError {
    /// Dotted path of the offending field, e.g. `node.parent.endpoint`.
    pub field: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Loads and validates a configuration.
///
/// `overrides` are `key=value` pairs with dotted keys (`node.name=Naidong`);
/// values are read as TOML when they parse as such (`42`, `true`, `["a"]`),
/// otherwise as plain strings.
pub fn load(file: Option<&Path>, overrides: &[String]) -> Result<Config, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = file {
        if !path.exists() {
            return Err(ConfigError::new(
                "--config",
                format!("file {} does not exist", path.display()),
            ));
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    // VFED_CONFIG names the file (the binary's --config), not a setting.
    figment = figment.merge(Env::prefixed("VFED_").ignore(&["CONFIG"]).split("__"));
    figment = with_overrides(figment, overrides)?;
    extract(&figment)
}

/// Parses and validates the text of a config file over the defaults (no
/// environment, no flags): what `load` does with a file's contents.
pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
    let figment = Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(text));
    extract(&figment)
}

fn with_overrides(mut figment: Figment, overrides: &[String]) -> Result<Figment, ConfigError> {
    for item in overrides {
        let Some((key, raw)) = item.split_once('=') else {
            return Err(ConfigError::new(
                "--set",
                format!("{item:?} is not key=value"),
            ));
        };
        figment = figment.merge((key.trim(), override_value(raw.trim())));
    }
    Ok(figment)
}

fn extract(figment: &Figment) -> Result<Config, ConfigError> {
    let config: Config = figment.extract().map_err(|e| {
        let field = if e.path.is_empty() {
            "config".to_owned()
        } else {
            e.path.join(".")
        };
        ConfigError::new(field, e.kind.to_string())
    })?;
    config.validate()?;
    Ok(config)
}

fn override_value(raw: &str) -> toml::Value {
    match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut table) => table
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_owned())),
        Err(_) => toml::Value::String(raw.to_owned()),
    }
}
