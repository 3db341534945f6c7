-- Zoo database for the hand-written benchmark (written for this project; see ../README.md).
CREATE TABLE enclosures (enclosure_id INTEGER PRIMARY KEY, label TEXT NOT NULL, biome TEXT NOT NULL, area_m2 INTEGER NOT NULL);
CREATE TABLE species (species_id INTEGER PRIMARY KEY, common_name TEXT NOT NULL, diet TEXT NOT NULL, conservation_status TEXT NOT NULL);
CREATE TABLE keepers (keeper_id INTEGER PRIMARY KEY, full_name TEXT NOT NULL, hired_on TEXT NOT NULL, shift TEXT NOT NULL);
CREATE TABLE animals (animal_id INTEGER PRIMARY KEY, nickname TEXT NOT NULL, species_id INTEGER NOT NULL REFERENCES species(species_id), enclosure_id INTEGER NOT NULL REFERENCES enclosures(enclosure_id), born_on TEXT, weight_kg REAL NOT NULL, sex TEXT NOT NULL);
CREATE TABLE feedings (feeding_id INTEGER PRIMARY KEY, animal_id INTEGER NOT NULL REFERENCES animals(animal_id), keeper_id INTEGER NOT NULL REFERENCES keepers(keeper_id), fed_on TEXT NOT NULL, food TEXT NOT NULL, quantity_kg REAL NOT NULL);

INSERT INTO enclosures VALUES
  (1, 'Savanna Plains', 'savanna', 12000), (2, 'Monkey Island', 'rainforest', 3500),
  (3, 'Penguin Cove', 'polar', 1800), (4, 'Reptile House', 'desert', 900),
  (5, 'Big Cat Ridge', 'savanna', 6400), (6, 'Bamboo Grove', 'forest', 4200),
  (7, 'Night Barn', 'forest', 600), (8, 'Aquarium Hall', 'aquatic', 2500);

INSERT INTO species VALUES
  (1, 'African elephant', 'herbivore', 'endangered'), (2, 'Giraffe', 'herbivore', 'vulnerable'),
  (3, 'Lion', 'carnivore', 'vulnerable'), (4, 'Snow leopard', 'carnivore', 'vulnerable'),
  (5, 'Gentoo penguin', 'carnivore', 'least concern'), (6, 'Ring-tailed lemur', 'omnivore', 'endangered'),
  (7, 'Capuchin monkey', 'omnivore', 'least concern'), (8, 'Red panda', 'herbivore', 'endangered'),
  (9, 'Komodo dragon', 'carnivore', 'endangered'), (10, 'Barn owl', 'carnivore', 'least concern'),
  (11, 'Zebra', 'herbivore', 'near threatened');

INSERT INTO keepers VALUES
  (1, 'Marta Silva', '2012-03-01', 'morning'), (2, 'Tom Becker', '2016-07-15', 'morning'),
  (3, 'Aisha Khan', '2019-01-10', 'evening'), (4, 'Lars Olsen', '2008-09-22', 'evening'),
  (5, 'Rui Tavares', '2021-05-03', 'night'), (6, 'Nina Weiss', '2023-02-14', 'morning');

INSERT INTO animals VALUES
  (1, 'Tembo', 1, 1, '2004-06-12', 5400, 'M'), (2, 'Nala', 1, 1, '2011-02-03', 3900, 'F'),
  (3, 'Stretch', 2, 1, '2015-08-20', 1150, 'M'), (4, 'Daisy', 2, 1, '2018-04-11', 830, 'F'),
  (5, 'Simba', 3, 5, '2013-12-01', 190, 'M'), (6, 'Zuri', 3, 5, '2016-03-17', 128, 'F'),
  (7, 'Ghost', 4, 5, '2019-05-30', 41.5, 'F'), (8, 'Pingu', 5, 3, '2020-11-02', 6.2, 'M'),
  (9, 'Waddles', 5, 3, '2021-01-15', 5.8, 'F'), (10, 'Flipper', 5, 3, NULL, 6.9, 'M'),
  (11, 'Julien', 6, 2, '2017-09-09', 2.4, 'M'), (12, 'Maki', 6, 2, '2019-10-21', 2.1, 'F'),
  (13, 'Coco', 7, 2, '2014-07-04', 3.3, 'F'), (14, 'Bongo', 7, 2, NULL, 3.9, 'M'),
  (15, 'Ember', 8, 6, '2020-06-06', 5.1, 'F'), (16, 'Rusty', 8, 6, '2018-02-28', 6.0, 'M'),
  (17, 'Draco', 9, 4, '2009-03-13', 79, 'M'), (18, 'Hoot', 10, 7, '2022-04-01', 0.5, 'F'),
  (19, 'Stripes', 11, 1, '2016-10-10', 350, 'M'), (20, 'Dotty', 11, 1, '2020-08-08', 310, 'F');

INSERT INTO feedings VALUES
  (1, 1, 1, '2024-03-01', 'hay', 70), (2, 2, 1, '2024-03-01', 'hay', 55),
  (3, 3, 2, '2024-03-01', 'acacia leaves', 30), (4, 5, 4, '2024-03-01', 'beef', 8),
  (5, 6, 4, '2024-03-01', 'beef', 6), (6, 8, 3, '2024-03-01', 'herring', 0.8),
  (7, 9, 3, '2024-03-01', 'herring', 0.7), (8, 11, 2, '2024-03-02', 'fruit mix', 0.3),
  (9, 13, 2, '2024-03-02', 'fruit mix', 0.4), (10, 15, 6, '2024-03-02', 'bamboo', 1.5),
  (11, 16, 6, '2024-03-02', 'bamboo', 1.7), (12, 17, 4, '2024-03-02', 'rabbit', 4),
  (13, 18, 5, '2024-03-02', 'mice', 0.1), (14, 1, 1, '2024-03-02', 'hay', 72),
  (15, 19, 2, '2024-03-03', 'hay', 9), (16, 20, 2, '2024-03-03', 'hay', 8),
  (17, 7, 4, '2024-03-03', 'chicken', 2.5), (18, 5, 3, '2024-03-03', 'chicken', 7),
  (19, 10, 3, '2024-03-03', 'sprats', 0.9), (20, 4, 2, '2024-03-03', 'acacia leaves', 25),
  (21, 12, 6, '2024-03-04', 'insects', 0.1), (22, 14, 6, '2024-03-04', 'fruit mix', 0.4),
  (23, 2, 1, '2024-03-04', 'hay', 58), (24, 17, 4, '2024-03-04', 'rabbit', 3.5);
