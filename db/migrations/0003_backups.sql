CREATE TABLE "backups" (
	"id" serial PRIMARY KEY NOT NULL,
	"cluster" text NOT NULL,
	"backup_id" text NOT NULL,
	"host_id" text NOT NULL,
	"status" text NOT NULL,
	"timeline" integer,
	"start_lsn" bigint,
	"stop_lsn" bigint,
	"started_at" timestamp with time zone NOT NULL,
	"stopped_at" timestamp with time zone,
	"completed_at" timestamp with time zone,
	"raw_size" bigint,
	"stored_size" bigint,
	"pg_version" integer,
	"system_identifier" text,
	"stores" jsonb,
	"manifest" jsonb,
	"error" text
);
--> statement-breakpoint
CREATE UNIQUE INDEX "backups_cluster_backup_id" ON "backups" USING btree ("cluster","backup_id");--> statement-breakpoint
CREATE INDEX "backups_cluster_stop_lsn" ON "backups" USING btree ("cluster","stop_lsn");