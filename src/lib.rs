//! answerlog: question-and-answer articles kept as an event-sourced history.
mod domain;
