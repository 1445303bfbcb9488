CREATE TABLE "runs" (
	"id" serial PRIMARY KEY NOT NULL,
	"cluster" text NOT NULL,
	"kind" text NOT NULL,
	"workflow_id" text NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone DEFAULT now() NOT NULL,
	"outcome" text NOT NULL,
	"summary" jsonb NOT NULL
);
--> statement-breakpoint
CREATE INDEX "runs_cluster_kind_started" ON "runs" USING btree ("cluster","kind","started_at");