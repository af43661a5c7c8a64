/*
 * migrations.h -- the SQL files of sql/, compiled into the programs by the build
 * (build/gen/migrations.c), so a binary always carries the schema it expects and
 * /readyz can tell when the database is behind.
 */
#ifndef LT_MIGRATIONS_H
#define LT_MIGRATIONS_H

struct lt_migration {
    int version;      /* the file's number: 000_x.sql is 0 */
    const char *name; /* the file name */
    const char *sql;
};

extern const struct lt_migration lt_migrations[]; /* in version order */
extern const int lt_nmigrations;
extern const int lt_schema_version; /* the highest version */

#endif
