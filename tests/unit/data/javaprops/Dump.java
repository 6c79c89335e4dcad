import java.io.*; import java.util.*;
public class Dump {
  static String q(String s) { StringBuilder b = new StringBuilder();
    for (char c : s.toCharArray()) { if (c < 0x20 || c > 0x7e || c == '\\' || c == '|') b.append(String.format("\\u%04x", (int) c)); else b.append(c); }
    return b.toString(); }
  public static void main(String[] a) throws Exception {
    for (String f : a) { Properties p = new Properties();
      try (InputStream in = new FileInputStream(f)) { p.load(in); }
      catch (IllegalArgumentException e) { System.out.println(new File(f).getName() + "|ERROR"); continue; }
      TreeMap<String,String> m = new TreeMap<>(); for (String k : p.stringPropertyNames()) m.put(k, p.getProperty(k));
      for (var e : m.entrySet()) System.out.println(new File(f).getName() + "|" + q(e.getKey()) + "|" + q(e.getValue())); } } }
