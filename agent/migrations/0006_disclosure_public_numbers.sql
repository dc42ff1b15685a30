-- The mobile numbers of a disclosure that its publisher marked as the
-- notice's public contact (a 村会计's phone): a JSON list, shown whole on
-- the printed notice while every other number is masked
-- (records.PublicNumbers). Never edit once shipped.
ALTER TABLE disclosures ADD COLUMN public_numbers TEXT;
