-- OTRS/Znuny has no SQLite schema; this is the customer_user and valid tables of
-- otrs-schema.xml rendered the way an admin would by hand (SQLite types, same columns,
-- same constraints), with the OTRS initial valid rows and one customer user.
-- The tests load this as an EXISTING database and check that Migrate leaves it unchanged.
CREATE TABLE valid (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR (200) NOT NULL,
    create_time DATETIME NOT NULL,
    create_by INTEGER NOT NULL,
    change_time DATETIME NOT NULL,
    change_by INTEGER NOT NULL,
    CONSTRAINT valid_name UNIQUE (name)
);
CREATE TABLE customer_user (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    login VARCHAR (200) NOT NULL,
    email VARCHAR (150) NOT NULL,
    customer_id VARCHAR (150) NOT NULL,
    pw VARCHAR (128) NULL,
    title VARCHAR (50) NULL,
    first_name VARCHAR (100) NOT NULL,
    last_name VARCHAR (100) NOT NULL,
    phone VARCHAR (150) NULL,
    fax VARCHAR (150) NULL,
    mobile VARCHAR (150) NULL,
    street VARCHAR (150) NULL,
    zip VARCHAR (200) NULL,
    city VARCHAR (200) NULL,
    country VARCHAR (200) NULL,
    comments VARCHAR (250) NULL,
    valid_id SMALLINT NOT NULL REFERENCES valid (id),
    create_time DATETIME NOT NULL,
    create_by INTEGER NOT NULL,
    change_time DATETIME NOT NULL,
    change_by INTEGER NOT NULL,
    CONSTRAINT customer_user_login UNIQUE (login)
);
INSERT INTO valid (name, create_by, create_time, change_by, change_time)
    VALUES ('valid', 1, current_timestamp, 1, current_timestamp);
INSERT INTO valid (name, create_by, create_time, change_by, change_time)
    VALUES ('invalid', 1, current_timestamp, 1, current_timestamp);
INSERT INTO valid (name, create_by, create_time, change_by, change_time)
    VALUES ('invalid-temporarily', 1, current_timestamp, 1, current_timestamp);
INSERT INTO customer_user (login, email, customer_id, pw, title, first_name, last_name, valid_id,
    create_time, create_by, change_time, change_by)
    VALUES ('Legacy.User', 'legacy@example.com', 'LEGACY', '94e0f9bc7f5a5225bd141bad5adf9befcc112aef09b88f47a14e20b75a7bbec2',
    'Mr.', 'Legacy', 'User', 1, current_timestamp, 1, current_timestamp, 1);
