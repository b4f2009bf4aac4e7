//! `vfedctl departments ...` and `vfedctl grants ...`: sharing feeds with
//! city departments under grants (service `vfed.sharing.v1.Sharing`, R13).

pub mod departments;
pub mod grants;
mod view;

pub use departments::DepartmentsCommand;
pub use grants::GrantsCommand;
