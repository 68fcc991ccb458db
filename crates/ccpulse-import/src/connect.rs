//! Amazon Connect.
