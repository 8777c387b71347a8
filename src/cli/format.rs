//! `-o text|table|wide|json|yaml` for the commands that list things
//! (`list`, `history`, `suggestions list`, `audit commits`),
//! as etcdctl and kubectl print: `text` is the default for a person;
//! `table` columns under headers, `wide` with more of them; `json` the
//! protobuf JSON mapping (the one convention of every command's
//! `--json`); `yaml` the same mapping as YAML. Times are RFC 3339 in UTC
//! everywhere (`2026-12-06T03:35:00Z`), and nothing is coloured.

use prost::Message;

use super::json;

/// How a listing prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Output {
    /// For a person, one line an item (the default).
    Text,
    /// Columns under headers.
    Table,
    /// A table with more columns.
    Wide,
    /// The protobuf JSON mapping (as `--json`).
    Json,
    /// The protobuf JSON mapping, as YAML.
    Yaml,
}

#[derive(Debug, Clone, clap::Args)]
pub(super) struct OutputArg {
    /// How to print: text, table, wide (a table with more columns), json
    /// (the protobuf JSON mapping: one item a line; `history`: the whole
    /// ListRevisionsResponse) or yaml (the same mapping: a sequence of
    /// items; `history`: the response).
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Text)]
    output: Output,
    /// As `-o json`.
    #[arg(long, conflicts_with = "output")]
    json: bool,
}

impl OutputArg {
    pub(super) fn format(&self) -> Output {
        if self.json {
            Output::Json
        } else {
            self.output
        }
    }
}

/// A table's column: its header, and whether only `wide` shows it.
pub(super) struct Column {
    pub(super) header: &'static str,
    pub(super) wide: bool,
}

/// Columns shown by `table` and `wide`.
pub(super) const fn narrow(header: &'static str) -> Column {
    Column {
        header,
        wide: false,
    }
}

/// Columns shown by `wide` only.
pub(super) const fn wide(header: &'static str) -> Column {
    Column { header, wide: true }
}

/// Prints `items` (messages of the protobuf type `name`) as `format` says:
/// JSON one object a line, YAML one sequence, a table one row an item
/// (`cells` gives the row, a cell a column). `Text` is the caller's.
pub(super) fn print_items<M: Message>(
    format: Output,
    name: &str,
    items: &[M],
    columns: &[Column],
    cells: impl Fn(&M) -> Vec<String>,
) -> anyhow::Result<()> {
    match format {
        Output::Json => {
            for item in items {
                outln!("{}", json::to_json_line(name, item)?)?;
            }
            Ok(())
        }
        Output::Yaml => {
            let values = items
                .iter()
                .map(|item| mapping(name, item))
                .collect::<anyhow::Result<Vec<_>>>()?;
            out!("{}", yaml_serde::to_string(&values)?)
        }
        Output::Table | Output::Wide => {
            let rows: Vec<Vec<String>> = items.iter().map(cells).collect();
            table(format == Output::Wide, columns, &rows)
        }
        Output::Text => anyhow::bail!("text is printed by the command itself"),
    }
}

/// Prints one message (of the protobuf type `name`) as YAML.
pub(super) fn print_yaml<M: Message>(name: &str, message: &M) -> anyhow::Result<()> {
    out!("{}", yaml_serde::to_string(&mapping(name, message)?)?)
}

/// Prints rows under the columns' headers; `wide` shows every column.
pub(super) fn table(wide: bool, columns: &[Column], rows: &[Vec<String>]) -> anyhow::Result<()> {
    let shown: Vec<usize> = (0..columns.len())
        .filter(|&i| wide || !columns[i].wide)
        .collect();
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::NOTHING);
    table.set_header(shown.iter().map(|&i| columns[i].header));
    for row in rows {
        table.add_row(
            shown
                .iter()
                .map(|&i| row.get(i).map(String::as_str).unwrap_or("")),
        );
    }
    // Each cell is padded a space either side: the first column's goes.
    for line in table.lines() {
        let line = line.strip_prefix(' ').unwrap_or(&line);
        outln!("{}", line.trim_end())?;
    }
    Ok(())
}

/// A message's protobuf JSON mapping, as a value.
fn mapping<M: Message>(name: &str, message: &M) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::from_str(&json::to_json_line(name, message)?)?)
}

/// A timestamp in RFC 3339, UTC (`2026-12-06T03:35:00Z`, with fractions
/// of a second when it has them); empty when unset or out of range.
pub(super) fn time(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc_3339_in_utc() {
        let at = |seconds, nanos| time(Some(&prost_types::Timestamp { seconds, nanos }));
        assert_eq!(at(1_796_528_100, 0), "2026-12-06T03:35:00Z");
        assert_eq!(at(1_796_528_100, 250_000_000), "2026-12-06T03:35:00.250Z");
        assert_eq!(at(0, -1), "");
        assert_eq!(time(None), "");
    }
}
