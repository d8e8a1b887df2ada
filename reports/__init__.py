"""Reports: CSV reports computed from the project's own data by a background job."""
