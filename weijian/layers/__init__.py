"""PostGIS schema, migrations, versioned import of zone and grid layers."""
