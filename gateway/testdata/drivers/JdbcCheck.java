// pgJDBC through pgbun in transaction pooling. The driver sends
// extra_float_digits and DateStyle at startup, switches statements to
// named server-side ones (prepareThreshold=1), batches inserts, and each
// worker checks its ApplicationName.
//
// Usage: java -cp postgresql.jar JdbcCheck.java URL USER PASSWORD TABLE WORKERS ITERATIONS
import java.sql.*;
import java.util.*;
import java.util.concurrent.*;

public class JdbcCheck {
    public static void main(String[] args) throws Exception {
        String url = args[0], user = args[1], password = args[2], table = args[3];
        int workers = Integer.parseInt(args[4]), iterations = Integer.parseInt(args[5]);
        ExecutorService pool = Executors.newFixedThreadPool(workers);
        List<Future<?>> results = new ArrayList<>();
        for (int w = 0; w < workers; w++) {
            final int id = w;
            results.add(pool.submit(() -> { work(url, user, password, table, id, iterations); return null; }));
        }
        pool.shutdown();
        List<String> errors = new ArrayList<>();
        for (int w = 0; w < workers; w++) {
            try {
                results.get(w).get(120, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                errors.add("worker " + w + ": " + e.getCause());
            }
        }
        if (!errors.isEmpty()) {
            System.err.println(String.join("\n", errors));
            System.exit(1);
        }
        System.out.println("ok " + workers * iterations + " iterations");
    }

    static void work(String url, String user, String password, String table, int w, int iterations) throws Exception {
        String name = "jdbc-" + w;
        Properties p = new Properties();
        p.setProperty("user", user);
        p.setProperty("password", password);
        p.setProperty("ApplicationName", name);
        p.setProperty("prepareThreshold", "1");
        try (Connection c = DriverManager.getConnection(url, p);
             PreparedStatement add = c.prepareStatement("SELECT ?::int + ?::int");
             PreparedStatement ins = c.prepareStatement("INSERT INTO " + table + " (id, v) VALUES (?, ?)");
             PreparedStatement count = c.prepareStatement("SELECT count(*) FROM " + table + " WHERE id = ?")) {
            for (int i = 0; i < iterations; i++) {
                int key = w * 100000 + i;
                add.setInt(1, key);
                add.setInt(2, 1);
                try (ResultSet rs = add.executeQuery()) {
                    rs.next();
                    check(rs.getInt(1) == key + 1, "sum " + rs.getInt(1));
                }
                c.setAutoCommit(false);
                ins.setInt(1, key);
                ins.setString(2, name);
                ins.executeUpdate();
                for (int j = 1; j <= 3; j++) {
                    ins.setInt(1, key + j * 10000000);
                    ins.setString(2, name);
                    ins.addBatch();
                }
                ins.executeBatch();
                count.setInt(1, key);
                try (ResultSet rs = count.executeQuery()) {
                    rs.next();
                    check(rs.getInt(1) == 1, "row " + key + " count " + rs.getInt(1));
                }
                c.commit();
                c.setAutoCommit(true);
                try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SHOW application_name")) {
                    rs.next();
                    check(rs.getString(1).equals(name), "application_name " + rs.getString(1));
                }
            }
        }
    }

    static void check(boolean ok, String what) {
        if (!ok) throw new IllegalStateException(what);
    }
}
