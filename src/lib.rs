//! landfall service library (in progress)
