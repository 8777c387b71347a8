//! `answerlog config print`: the effective configuration of `serve` with
//! the same file, environment and flags, and where each value came from.

use clap::ArgMatches;

use crate::config::{ConfigArgs, Setting};

/// Prints every key, its value and its origin: an aligned table, or one
/// JSON object with `--json`. The configuration holds no secret itself,
/// only the paths of the files that do (principals, signing key, TLS key),
/// and those files are not read.
pub(super) fn print(args: &ConfigArgs, matches: &ArgMatches, json: bool) -> anyhow::Result<()> {
    let settings = args.settings(matches)?;
    if json {
        let out = serde_json::json!({
            "file": args.config,
            "settings": settings,
        });
        outln!("{out}")?;
        return Ok(());
    }
    match &args.config {
        Some(path) => outln!("# configuration file: {}", path.display())?,
        None => outln!("# no configuration file")?,
    }
    out!("{}", table(&settings))?;
    Ok(())
}

/// The settings as aligned columns: key, value, origin.
fn table(settings: &[Setting]) -> String {
    let rows: Vec<(&str, String, &str)> = settings
        .iter()
        .map(|s| (s.key.as_str(), shown(&s.value), s.origin.name()))
        .collect();
    let key_width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(3);
    let value_width = rows
        .iter()
        .map(|r| r.1.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut out = format!("{:key_width$}  {:value_width$}  origin\n", "key", "value");
    for (key, value, origin) in rows {
        out.push_str(&format!(
            "{key:key_width$}  {value:value_width$}  {origin}\n"
        ));
    }
    out
}

/// A value as a person reads it: strings without quotes, unset as `-`.
fn shown(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "-".to_owned(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Origin;

    #[test]
    fn the_table_aligns_and_shows_unset_values_as_a_dash() {
        let settings = [
            Setting {
                key: "data_dir".into(),
                value: "./data".into(),
                origin: Origin::Default,
            },
            Setting {
                key: "limits.question_chars".into(),
                value: 40.into(),
                origin: Origin::Flag,
            },
            Setting {
                key: "principals_file".into(),
                value: serde_json::Value::Null,
                origin: Origin::Default,
            },
        ];
        let text = table(&settings);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "key                    value   origin");
        assert_eq!(lines[1], "data_dir               ./data  default");
        assert_eq!(lines[2], "limits.question_chars  40      flag");
        assert_eq!(lines[3], "principals_file        -       default");
    }
}
