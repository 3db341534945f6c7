-- Cinema database for the hand-written benchmark (written for this project; see ../README.md).
CREATE TABLE Movie (MovieId INTEGER PRIMARY KEY, Title TEXT NOT NULL, Genre TEXT NOT NULL, ReleaseYear INTEGER NOT NULL, RuntimeMin INTEGER NOT NULL, AgeRating TEXT NOT NULL);
CREATE TABLE Hall (HallId INTEGER PRIMARY KEY, HallName TEXT NOT NULL, Seats INTEGER NOT NULL, IsImax INTEGER NOT NULL);
CREATE TABLE Screening (ScreeningId INTEGER PRIMARY KEY, MovieId INTEGER NOT NULL REFERENCES Movie(MovieId), HallId INTEGER NOT NULL REFERENCES Hall(HallId), ShowDate TEXT NOT NULL, StartTime TEXT NOT NULL, Price REAL NOT NULL);
CREATE TABLE Ticket (TicketId INTEGER PRIMARY KEY, ScreeningId INTEGER NOT NULL REFERENCES Screening(ScreeningId), Seat TEXT NOT NULL, BuyerEmail TEXT, PaidWith TEXT NOT NULL);

INSERT INTO Movie VALUES
  (1, 'The Lighthouse Keeper', 'drama', 2021, 118, '12'), (2, 'Orbit Runners', 'sci-fi', 2023, 132, '12'),
  (3, 'Paper Dragons', 'animation', 2022, 95, 'U'), (4, 'Cold Harbour', 'thriller', 2020, 104, '15'),
  (5, 'Laugh Track', 'comedy', 2023, 89, '12'), (6, 'The Last Waltz in Vienna', 'romance', 2019, 121, 'PG'),
  (7, 'Night Shift', 'horror', 2024, 97, '18'), (8, 'Mountain Echo', 'documentary', 2022, 78, 'U'),
  (9, 'Orbit Runners 2', 'sci-fi', 2024, 140, '12');

INSERT INTO Hall VALUES
  (1, 'Grand', 320, 1), (2, 'Studio A', 120, 0), (3, 'Studio B', 96, 0), (4, 'Balcony', 60, 0);

INSERT INTO Screening VALUES
  (1, 2, 1, '2024-05-10', '19:30', 14.5), (2, 2, 1, '2024-05-11', '21:00', 14.5),
  (3, 3, 2, '2024-05-11', '11:00', 7.0), (4, 1, 3, '2024-05-10', '18:00', 9.5),
  (5, 4, 3, '2024-05-11', '22:15', 9.5), (6, 5, 2, '2024-05-12', '20:00', 9.0),
  (7, 7, 4, '2024-05-12', '23:30', 11.0), (8, 9, 1, '2024-05-12', '17:45', 16.0),
  (9, 6, 4, '2024-05-13', '15:00', 8.0), (10, 8, 2, '2024-05-13', '13:00', 6.5),
  (11, 9, 1, '2024-05-13', '20:30', 16.0), (12, 3, 2, '2024-05-12', '10:30', 7.0);

INSERT INTO Ticket VALUES
  (1, 1, 'F12', 'ana@post.org', 'card'), (2, 1, 'F13', 'ana@post.org', 'card'),
  (3, 1, 'G01', NULL, 'cash'), (4, 2, 'C07', 'bo@mailbox.com', 'card'),
  (5, 3, 'A01', 'kids@inbox.net', 'voucher'), (6, 3, 'A02', 'kids@inbox.net', 'voucher'),
  (7, 3, 'A03', NULL, 'cash'), (8, 4, 'D10', 'li@webmail.io', 'card'),
  (9, 5, 'B04', NULL, 'cash'), (10, 6, 'E05', 'sam@post.org', 'card'),
  (11, 6, 'E06', 'sam@post.org', 'card'), (12, 7, 'A09', 'night@owl.net', 'card'),
  (13, 8, 'H22', 'bo@mailbox.com', 'card'), (14, 8, 'H23', NULL, 'cash'),
  (15, 8, 'H24', 'mia@inbox.net', 'voucher'), (16, 9, 'B02', 'oma@post.org', 'cash'),
  (17, 11, 'J15', 'li@webmail.io', 'card'), (18, 11, 'J16', 'li@webmail.io', 'card'),
  (19, 11, 'J17', NULL, 'card'), (20, 12, 'A05', 'kids@inbox.net', 'voucher'),
  (21, 1, 'G02', 'tom@mailbox.com', 'card'), (22, 8, 'H25', 'ana@post.org', 'card');
