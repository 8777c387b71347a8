//! Histories from other systems (issue 18): MediaWiki's XML export read
//! as a stream (`mediawiki`), and a page's wikitext as an article's parts
//! without loss (`wikitext`); Stack Exchange's dump (`Posts.xml`,
//! `PostHistory.xml`) and post histories as CSV (`stackexchange`). Reading and mapping only: no I/O but the
//! reader's input, and nothing checked here that `decide` checks anyway.
//!
//! Public (the library's) so that the import to come, tools and tests
//! share one reading of a dump; `answerlog import-history` will send what
//! it reads through `ImportCommits`.

pub mod citations;
pub mod mediawiki;
pub mod plan;
#[cfg(test)]
mod replay;
pub mod stackexchange;
pub mod thread;
pub mod walk;
pub mod wikitext;
