//! The read side: queries of ClickHouse for reports, Beads comments and weekly summaries (SQL in one place per
//! question; never reaches receive/).

pub mod beads;
pub mod human;
pub mod weekly;
