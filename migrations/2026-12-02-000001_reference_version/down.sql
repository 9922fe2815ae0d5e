DROP TRIGGER categories_bump_reference_version ON categories;
DROP TRIGGER stores_bump_reference_version ON stores;
DROP FUNCTION stockroom_bump_reference_version();
DROP TABLE reference_version;
