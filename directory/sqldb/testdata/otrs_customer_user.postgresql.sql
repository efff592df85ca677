-- The OTRS/Znuny customer_user and valid tables exactly as scripts/database/otrs-schema.postgresql.sql
-- creates them (fact sheet §9), with the OTRS initial valid rows and one customer user.
-- The tests load this as an EXISTING database and check that Migrate leaves it unchanged.
CREATE TABLE valid (
    id smallserial NOT NULL,
    name VARCHAR (200) NOT NULL,
    create_time timestamp(0) NOT NULL,
    create_by INTEGER NOT NULL,
    change_time timestamp(0) NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id),
    CONSTRAINT valid_name UNIQUE (name)
);
CREATE TABLE customer_user (
    id serial NOT NULL,
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
    valid_id SMALLINT NOT NULL,
    create_time timestamp(0) NOT NULL,
    create_by INTEGER NOT NULL,
    change_time timestamp(0) NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id),
    CONSTRAINT customer_user_login UNIQUE (login)
);
ALTER TABLE customer_user ADD CONSTRAINT FK_customer_user_valid_id_id FOREIGN KEY (valid_id) REFERENCES valid (id);
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
