"""CRS handling, coordinate conversion (incl. GCJ-02 / BD-09), geometry repair, file readers."""
