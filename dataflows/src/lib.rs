//! landfall-dataflows (in progress)
