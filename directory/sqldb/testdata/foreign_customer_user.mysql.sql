-- A foreign customer table (OTRS Params->ForeignDB): the customer_user columns an external
-- system would have, WITHOUT create_*/change_* columns and with an extra column room that
-- the test Map exposes as UserRoom. No valid table: validity is a plain number.
CREATE TABLE ext_customers (
    id INTEGER NOT NULL AUTO_INCREMENT,
    login VARCHAR (200) NOT NULL,
    email VARCHAR (150) NOT NULL,
    customer_id VARCHAR (150) NOT NULL,
    pw VARCHAR (128) NULL,
    first_name VARCHAR (100) NOT NULL,
    last_name VARCHAR (100) NOT NULL,
    room VARCHAR (50) NULL,
    valid_id SMALLINT NOT NULL,
    PRIMARY KEY(id),
    CONSTRAINT ext_customers_login UNIQUE (login)
);
INSERT INTO ext_customers (login, email, customer_id, first_name, last_name, room, valid_id)
    VALUES ('Ext.User', 'ext@example.com', 'EXT', 'Ext', 'User', 'B-204', 1);
